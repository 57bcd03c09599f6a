"""Passwords (argon2id, legacy PBKDF2 verified then rehashed), the password policy, JWTs and
API-key secrets. Pure functions: no I/O beyond CPU, so they are unit-tested directly."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

ISSUER = "cobol-api"
ALGORITHM = "HS256"
PBKDF2 = "pbkdf2_sha256"
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
API_KEY_PREFIX = "cobol_"

# A small list of the passwords attackers try first (and their obvious variants are caught by
# the length rule). Compared case-insensitively.
COMMON_PASSWORDS = frozenset("""
123456789012 1234567890 0123456789 12345678910 1234567890a 1q2w3e4r5t 1q2w3e4r5t6y qwertyuiop
qwertyuiop1 qwerty12345 qwerty123456 1qaz2wsx3edc zaq12wsxcde asdfghjkl1 asdfghjkl; password12
password123 password1234 password12345 passw0rd123 p@ssw0rd123 p@ssword123 administrator
administrator1 admin12345 admin123456 adminadmin adminadmin1 letmein123 letmeinplease welcome123
welcome1234 iloveyou123 sunshine123 princess123 football123 baseball123 dragon12345 monkey12345
trustno1234 changeme123 changeme1234 default1234 secret12345 superman123 starwars123 master12345
whatever123 0000000000 1111111111 2222222222 9999999999 1212121212 1234512345 abcdefghij
abcdef123456 abc1234567 abcd123456 a1b2c3d4e5 qwertyqwerty passwordpassword 11111111111
123123123123 987654321012 9876543210 cobolprotocol cobol123456 correcthorsebatterystaple
""".split())


class PasswordHasherBox:
    """argon2id with the configured cost; verifies legacy PBKDF2 hashes and says when to rehash."""

    def __init__(self, time_cost: int = 3, memory_kib: int = 65536) -> None:
        self.ph = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._dummy = self.ph.hash("dummy password for timing")

    def hash(self, password: str) -> str:
        return self.ph.hash(password)

    def verify(self, password: str, encoded: str | None) -> tuple[bool, bool]:
        """(matches, needs_rehash). An unknown user (encoded None) costs the same as a wrong password."""
        if not encoded:
            try:
                self.ph.verify(self._dummy, password + "x")
            except VerificationError:
                pass
            return False, False
        if encoded.startswith(PBKDF2 + "$"):
            return verify_pbkdf2(password, encoded), True
        try:
            self.ph.verify(encoded, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        return True, self.ph.check_needs_rehash(encoded)


def _unb64(s: str) -> bytes:
    return base64.b64decode(s + "=" * (-len(s) % 4))


def hash_pbkdf2(password: str, iterations: int = 600_000) -> str:
    """The hash format of earlier releases (kept to test the upgrade path)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    b64 = lambda b: base64.b64encode(b).decode().rstrip("=")  # noqa: E731
    return f"{PBKDF2}${iterations}${b64(salt)}${b64(digest)}"


def verify_pbkdf2(password: str, encoded: str) -> bool:
    try:
        scheme, iters, salt, digest = encoded.split("$")
        if scheme != PBKDF2 or not 1000 <= int(iters) <= 10_000_000:
            return False
        calc = hashlib.pbkdf2_hmac("sha256", password.encode(), _unb64(salt), int(iters))
        return hmac.compare_digest(calc, _unb64(digest))
    except (ValueError, TypeError):
        return False


def password_problem(password: str, user: str) -> str | None:
    """Why this password is refused, or None. Never includes the password itself."""
    if len(password) < MIN_PASSWORD:
        return f"the password must have at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"the password must have at most {MAX_PASSWORD} characters"
    low = password.lower()
    if low in COMMON_PASSWORDS or len(set(low)) <= 2:
        return "the password is too common; choose another"
    if user and user.lower() in low:
        return "the password must not contain the user name"
    if "\x00" in password:
        return "the password must not contain NUL"
    return None


# ---- JWT ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AccessClaims:
    sub: str
    role: str
    sid: str        # the login session (refresh-token family) it belongs to
    jti: str
    iat: int
    exp: int
    ims: int        # issued at, in milliseconds (revocation compares against it)
    all_jobs: bool  # the "see every job" grant, at issue time (changing it revokes the user's tokens)


def issue_access(secret: str, name: str, role: str, sid: str, ttl: int, all_jobs: bool = False) -> tuple[str, int]:
    ims = time.time_ns() // 1_000_000
    now = ims // 1000
    claims = {"sub": name, "role": role, "sid": sid, "iat": now, "ims": ims, "nbf": now, "exp": now + ttl,
              "iss": ISSUER, "jti": uuid.uuid4().hex, "typ": "access", "all": bool(all_jobs)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM), ttl


def decode_access(secret: str, token: str) -> AccessClaims:
    """Raises jwt.PyJWTError (ExpiredSignatureError first) when the token is not valid."""
    c = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER, leeway=5,
                   options={"require": ["exp", "iat", "sub", "iss", "sid", "jti"]})
    if c.get("typ") != "access" or not isinstance(c.get("role"), str) or not isinstance(c.get("ims"), int):
        raise jwt.InvalidTokenError("not an access token")
    return AccessClaims(c["sub"], c["role"], c["sid"], c["jti"], int(c["iat"]), int(c["exp"]), c["ims"],
                        bool(c.get("all")))


# ---- opaque secrets (refresh tokens, API keys) --------------------------------------------------

def digest(secret: str) -> str:
    """Stored form of a high-entropy secret (a refresh token or API key): SHA-256 is enough."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_refresh() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str]:
    """(key id, full key shown once). The id is public; the secret part is 32 random bytes."""
    kid = secrets.token_hex(6)
    return kid, f"{API_KEY_PREFIX}{kid}_{secrets.token_urlsafe(32)}"


def api_key_id(key: str) -> str | None:
    if not key.startswith(API_KEY_PREFIX):
        return None
    kid, sep, rest = key[len(API_KEY_PREFIX):].partition("_")
    if not sep or len(kid) != 12 or not all(c in "0123456789abcdef" for c in kid) or len(rest) < 20:
        return None
    return kid
