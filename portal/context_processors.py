from . import permissions


def portal(request):
    """The roles of the signed-in user, for the navigation bar."""
    roles = permissions.roles_of(getattr(request, "user", None))
    return {
        "nav_talent": permissions.ROLE_TALENT in roles,
        "nav_brand": permissions.ROLE_BRAND in roles,
        "nav_legal": bool(roles & permissions.STAFF_ROLES),
    }
