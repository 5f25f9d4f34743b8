from axes.apps import AppConfig as AxesAppConfig
from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.apps import DefaultConfig as TOTPAppConfig


class PortalConfig(AppConfig):
    name = "portal"


# Third-party apps named as staff read them, in their language: their own names are the labels
# ("Axes", "Otp_Totp"). INSTALLED_APPS lists these configs in place of the apps' own.
class AxesConfig(AxesAppConfig):
    verbose_name = _("Sign-in attempts")


class TOTPConfig(TOTPAppConfig):
    verbose_name = _("Second factors (authenticator apps)")
