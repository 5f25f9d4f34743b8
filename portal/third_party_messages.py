"""Messages of django-axes that its own catalogues lack in zh-Hans, zh-Hant and ja (it ships fr).

Marked here so that makemessages puts them in our catalogues, which LOCALE_PATHS places before every
app's: the login-security screens of the admin are then in each staff member's language. Nothing
imports this module. The msgids are axes' own, letter for letter (axes/models.py, admin.py and conf.py
of django-axes 8.3); "Username" is left out, as Django's own catalogues translate it.
"""

from django.utils.translation import gettext_noop

AXES_MESSAGES = (
    gettext_noop("Form Data"),
    gettext_noop("Meta Data"),
    gettext_noop("Account locked: too many login attempts. Please try again later."),
    gettext_noop("Account locked: too many login attempts. Contact an admin to unlock your account."),
    gettext_noop("User Agent"),
    gettext_noop("IP Address"),
    gettext_noop("HTTP Accept"),
    gettext_noop("Path"),
    gettext_noop("Attempt Time"),
    gettext_noop("Access lock out"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("GET Data"),
    gettext_noop("POST Data"),
    gettext_noop("Failed Logins"),
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("Logout Time"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
)
