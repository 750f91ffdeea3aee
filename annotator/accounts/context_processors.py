from django.http import HttpRequest

from annotator.accounts.roles import Role, user_roles


def roles(request: HttpRequest) -> dict[str, object]:
    held = user_roles(request.user)
    is_admin = Role.ADMIN in held
    return {
        "is_admin": is_admin,
        "is_qa": is_admin or Role.QA_LEAD in held,
        "is_annotator": Role.ANNOTATOR in held,
    }
