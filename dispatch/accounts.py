"""Accounts and login tokens: Argon2id password hashes, signed expiring bearer tokens."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from dispatch.commands import Actor
from dispatch.lifecycle import INSPECTOR, STAFF_ROLES
from dispatch.store import User

_hasher = PasswordHasher()
# verifying against this keeps the time of a login for an unknown user close to a wrong password
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class AuthError(PermissionError):
    pass


def load_secret(data_dir: Path) -> str:
    """``CITYOPS_SECRET``, else a random key kept (0600) in the data directory."""
    env = os.environ.get("CITYOPS_SECRET")
    if env:
        return env
    path = data_dir / "secret.key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        key = secrets.token_urlsafe(48)
        f.write(key)
    return key


def create_user(
    sessions: sessionmaker, username: str, password: str, role: str, inspector_id: str | None = None
) -> User:
    if role not in STAFF_ROLES:
        raise ValueError(f"role must be one of {STAFF_ROLES}")
    if role == INSPECTOR and not inspector_id:
        raise ValueError("an inspector account needs the roster id it acts as (--inspector)")
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    with sessions.begin() as s:
        if s.scalar(select(User).where(User.username == username)):
            raise ValueError(f"user {username!r} exists already")
        user = User(
            username=username, password_hash=_hasher.hash(password), role=role, inspector_id=inspector_id,
            active=True, created_at=datetime.now(UTC),
        )  # fmt: skip
        s.add(user)
    return user


class Tokens:
    def __init__(self, secret: str, ttl_s: int) -> None:
        self.ser = URLSafeTimedSerializer(secret, salt="cityops-login")
        self.ttl_s = ttl_s

    def issue(self, user: User) -> str:
        return self.ser.dumps({"u": user.username, "r": user.role, "i": user.inspector_id})

    def verify(self, token: str) -> Actor:
        try:
            data = self.ser.loads(token, max_age=self.ttl_s)
        except SignatureExpired as exc:
            raise AuthError("the token has expired; log in again") from exc
        except BadSignature as exc:
            raise AuthError("the token is not valid") from exc
        return Actor(data["u"], data["r"], data.get("i"))


def authenticate(sessions: sessionmaker, username: str, password: str) -> User:
    with sessions() as s:
        user = s.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError) as exc:
        raise AuthError("wrong username or password") from exc
    if user is None or not user.active:
        raise AuthError("wrong username or password")
    return user
