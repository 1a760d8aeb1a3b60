"""Home page (routes each role to its portal) and sign-in/sign-out."""
from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.urls import reverse

from .. import permissions
from ..forms import ThrottledAuthenticationForm

PORTALS = [
    (permissions.ROLE_TALENT, "portal:talent-home", "My likeness",
     "Grant or revoke consent, answer license requests, see every use of your face and voice."),
    (permissions.ROLE_BRAND, "portal:brand-home", "Brand console",
     "Request licenses, create clones, run and watch licensed streams, see usage and cost."),
    (permissions.ROLE_LEGAL, "portal:legal-home", "Legal review",
     "Countersign licenses, audit the signed ledger, export evidence."),
]


def home(request):
    roles = permissions.roles_of(request.user)
    if permissions.ROLE_ADMIN in roles:
        roles = roles | {permissions.ROLE_LEGAL}  # admins read the legal views too
    portals = [
        {"url": reverse(url_name), "title": title, "text": text}
        for role, url_name, title, text in PORTALS
        if role in roles
    ]
    if request.user.is_authenticated and len(portals) == 1:
        return redirect(portals[0]["url"])
    return render(request, "portal/home.html", {"portals": portals})


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    authentication_form = ThrottledAuthenticationForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    next_page = "portal:home"
