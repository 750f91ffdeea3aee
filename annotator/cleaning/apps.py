from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CleaningConfig(AppConfig):
    name = "annotator.cleaning"
    label = "cleaning"
    verbose_name = _("Cleaning")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from annotator.cleaning.leases import leases_release_on_logout

        user_logged_out.connect(leases_release_on_logout, dispatch_uid="cleaning_leases_release_on_logout")
