"""Accounts and login tokens: Argon2id password hashes, signed expiring bearer tokens."""

from __future__ import annotations

import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from dispatch.commands import Actor
from dispatch.lifecycle import FIELD_ROLES, STAFF_ROLES
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
    data_dir.mkdir(parents=True, exist_ok=True)
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
    if role in FIELD_ROLES and not inspector_id:
        raise ValueError(f"an {role} account needs the roster id it acts as (--inspector)")
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    with sessions.begin() as s:
        if s.scalar(select(User).where(User.username == username)):
            raise ValueError(f"user {username!r} exists already")
        user = User(
            username=username, password_hash=_hasher.hash(password), role=role, inspector_id=inspector_id,
            active=True, created_at=datetime.now(UTC), token_generation=0,
        )  # fmt: skip
        s.add(user)
    return user


class Tokens:
    """Signed, expiring bearer tokens naming the account, its role and the account's generation."""

    def __init__(self, secret: str, ttl_s: int) -> None:
        self.ser = URLSafeTimedSerializer(secret, salt="cityops-login")
        self.ttl_s = ttl_s

    def issue(self, user: User) -> str:
        return self.ser.dumps(
            {"u": user.username, "r": user.role, "i": user.inspector_id, "g": user.token_generation or 0}
        )

    def claims(self, token: str) -> dict:
        try:
            return self.ser.loads(token, max_age=self.ttl_s)
        except SignatureExpired as exc:
            raise AuthError("the token has expired; log in again") from exc
        except BadSignature as exc:
            raise AuthError("the token is not valid") from exc

    def verify(self, token: str) -> Actor:
        """Signature and age only; :class:`AccountCheck` adds the account's current state."""
        data = self.claims(token)
        return Actor(data["u"], data["r"], data.get("i"))


@dataclass(frozen=True)
class _AccountState:
    active: bool
    role: str
    inspector_id: str | None
    generation: int


class AccountCheck:
    """Is the account behind a token still allowed what the token says? Deactivated accounts, changed
    roles and ended logins (a bumped generation) are refused. The account's row is cached ``cache_s``
    seconds per process, so that is how long a change made elsewhere may take to bite."""

    def __init__(self, sessions: sessionmaker, tokens: Tokens, cache_s: float) -> None:
        self.sessions, self.tokens, self.cache_s = sessions, tokens, cache_s
        self._cache: dict[str, tuple[float, _AccountState | None]] = {}
        self._lock = threading.Lock()

    def _state(self, username: str) -> _AccountState | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(username)
        if hit and hit[0] > now:
            return hit[1]
        with self.sessions() as s:
            user = s.scalar(select(User).where(User.username == username))
            state = (
                _AccountState(bool(user.active), user.role, user.inspector_id, user.token_generation or 0)
                if user
                else None
            )
        if self.cache_s > 0:
            with self._lock:
                if len(self._cache) > 10_000:  # forged-but-signed names cannot exist; this is a backstop
                    self._cache.clear()
                self._cache[username] = (now + self.cache_s, state)
        return state

    def forget(self, username: str) -> None:
        with self._lock:
            self._cache.pop(username, None)

    def actor(self, token: str) -> Actor:
        data = self.tokens.claims(token)
        state = self._state(data["u"])
        if state is None or not state.active:
            raise AuthError("this account is deactivated; ask an administrator")
        if (
            state.generation != data.get("g", 0)
            or state.role != data["r"]
            or state.inspector_id != data.get("i")
        ):
            raise AuthError(
                "this login has ended (logged out, or the password or role changed); log in again"
            )
        return Actor(data["u"], data["r"], data.get("i"))


def end_logins(sessions: sessionmaker, username: str) -> bool:
    """Invalidate every token issued to ``username`` so far (logout: all devices). False: no such user."""
    with sessions.begin() as s:
        res = s.execute(
            update(User).where(User.username == username).values(token_generation=User.token_generation + 1)
        )
    return res.rowcount > 0


_UNSET: Any = object()


def update_user(
    sessions: sessionmaker,
    username: str,
    *,
    role: str | None = None,
    inspector_id: str | None = _UNSET,
    active: bool | None = None,
    password: str | None = None,
) -> User:
    """Change an account; any change to its role, roster id, activity or password ends its logins."""
    if role is not None and role not in STAFF_ROLES:
        raise ValueError(f"role must be one of {STAFF_ROLES}")
    if password is not None and len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    with sessions.begin() as s:
        user = s.scalar(select(User).where(User.username == username).with_for_update())
        if user is None:
            raise LookupError(f"no user {username!r}")
        changed = False
        if role is not None and role != user.role:
            user.role, changed = role, True
        if inspector_id is not _UNSET and inspector_id != user.inspector_id:
            user.inspector_id, changed = inspector_id, True
        if user.role in FIELD_ROLES and not user.inspector_id:
            raise ValueError(f"an {user.role} account needs the roster id it acts as (--inspector)")
        if active is not None and active != user.active:
            user.active, changed = active, True
        if password is not None:
            user.password_hash, changed = _hasher.hash(password), True
        if changed:
            user.token_generation = (user.token_generation or 0) + 1
    return user


def change_password(sessions: sessionmaker, username: str, current: str, new: str) -> User:
    authenticate(sessions, username, current)
    return update_user(sessions, username, password=new)


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
