"""Where a command's model comes from: a local folder, or a Hub repo id ("name" or "namespace/name")."""

import os
import re

_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def looks_like_repo_id(source: str) -> bool:
    """True for "name" / "namespace/name" (what the Hub accepts), False for paths such as /x/y, ./x or a/b/c."""
    return bool(_REPO_ID.fullmatch(source)) and ".." not in source and not source.endswith((".", "-"))


def check_model_source(source, *, hub: bool = True) -> None:
    """Raise FileNotFoundError("no such folder: ...") for a model argument that is neither an existing folder nor
    (when ``hub``) something the Hub could resolve, instead of the Hub client's "Repo id must be in the form"."""
    path = os.fspath(source)
    if os.path.isdir(path):
        return
    if os.path.exists(path):
        raise NotADirectoryError(f"not a folder: {path} (pass the model folder, not a file in it)")
    if not hub or not looks_like_repo_id(path):
        raise FileNotFoundError(f"no such folder: {path}")


__all__ = ["check_model_source", "looks_like_repo_id"]
