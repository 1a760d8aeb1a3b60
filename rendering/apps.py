from django.apps import AppConfig


class RenderingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "rendering"
    verbose_name = "Clones and rendering"
