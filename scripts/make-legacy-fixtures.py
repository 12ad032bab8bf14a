#!/usr/bin/env python3
"""Write crates/gatehouse-core/tests/vectors/legacy_hashes.json: password hashes made by the
real Python libraries that FastAPI / Django deployments store, so gatehouse's legacy
verifiers are tested against what those libraries actually produce.

The JSON is committed; tests never need Python. Re-run this only to add vectors:

    python3 -m venv /tmp/fixture-venv
    /tmp/fixture-venv/bin/pip install passlib 'bcrypt>=4.1.2,<5' 'pwdlib[argon2,bcrypt]' django
    /tmp/fixture-venv/bin/python scripts/make-legacy-fixtures.py

(bcrypt is pinned below 5: passlib 1.7.4 breaks on bcrypt 5, which refuses passwords longer
than 72 bytes; bcrypt >= 4.1 only makes passlib log a harmless "error reading bcrypt version".)

Each vector is {scheme, source, params, password, wrong_password, hash}. `scheme` is the name
`gatehouse_core::check_stored_hash` reports. Salts are random, so every run writes new hashes.
"""

import json
import logging
import sys
from importlib.metadata import version
from pathlib import Path

logging.getLogger("passlib").setLevel(logging.ERROR)

import argon2  # argon2-cffi  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure()

from django.contrib.auth.hashers import PBKDF2PasswordHasher  # noqa: E402
from passlib.hash import (  # noqa: E402
    argon2 as passlib_argon2,
    bcrypt as passlib_bcrypt,
    django_pbkdf2_sha256,
    pbkdf2_sha256,
    pbkdf2_sha512,
)
from pwdlib import PasswordHash  # noqa: E402
from pwdlib.hashers.argon2 import Argon2Hasher  # noqa: E402
from pwdlib.hashers.bcrypt import BcryptHasher  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "crates/gatehouse-core/tests/vectors/legacy_hashes.json"

ASCII = "correct horse battery staple"
UNICODE = "pässwörd ünïcödé ✓ 密码"
LONG = "a-long-passphrase-" * 6  # 108 bytes: bcrypt only uses the first 72
WRONG = "correct horse battery stapler"


def v(scheme, source, params, password, hash_, verify):
    """One vector, after checking with the generating library that it verifies the right
    password and not the wrong one."""
    assert verify(password, hash_), (scheme, source)
    assert not verify(WRONG, hash_), (scheme, source)
    return {
        "scheme": scheme,
        "source": source,
        "params": params,
        "password": password,
        "wrong_password": WRONG,
        "hash": hash_,
    }


def main():
    django_hasher = PBKDF2PasswordHasher()
    pwdlib_recommended = PasswordHash.recommended()
    pwdlib_bcrypt = PasswordHash((BcryptHasher(),))
    cffi_small = argon2.PasswordHasher(time_cost=1, memory_cost=2048, parallelism=2)
    cffi_argon2i = argon2.PasswordHasher(time_cost=2, memory_cost=4096, parallelism=1, type=argon2.Type.I)

    def cffi_verify(ph):
        def check(pw, h):
            try:
                return ph.verify(h, pw)
            except argon2.exceptions.VerifyMismatchError:
                return False

        return check

    vectors = [
        # passlib CryptContext(schemes=["bcrypt"]) — the older FastAPI tutorial.
        v("bcrypt", "passlib bcrypt", "cost 4", ASCII,
          passlib_bcrypt.using(rounds=4).hash(ASCII), passlib_bcrypt.verify),
        v("bcrypt", "passlib bcrypt", "cost 12 (passlib default)", UNICODE,
          passlib_bcrypt.hash(UNICODE), passlib_bcrypt.verify),
        v("bcrypt", "passlib bcrypt", "cost 5, $2a$ ident", ASCII,
          passlib_bcrypt.using(rounds=5, ident="2a").hash(ASCII), passlib_bcrypt.verify),
        v("bcrypt", "passlib bcrypt", "cost 5, $2y$ ident", UNICODE,
          passlib_bcrypt.using(rounds=5, ident="2y").hash(UNICODE), passlib_bcrypt.verify),
        v("bcrypt", "pwdlib BcryptHasher", "cost 12 (pwdlib default)", ASCII,
          pwdlib_bcrypt.hash(ASCII), pwdlib_bcrypt.verify),
        v("bcrypt", "pwdlib BcryptHasher", "cost 4, 108-byte password", LONG,
          PasswordHash((BcryptHasher(rounds=4),)).hash(LONG), pwdlib_bcrypt.verify),
        # passlib pbkdf2_sha256 / pbkdf2_sha512 (modular crypt format, adapted base64).
        v("passlib-pbkdf2-sha256", "passlib pbkdf2_sha256", "1000 rounds", ASCII,
          pbkdf2_sha256.using(rounds=1000).hash(ASCII), pbkdf2_sha256.verify),
        v("passlib-pbkdf2-sha256", "passlib pbkdf2_sha256", "29000 rounds (passlib default)", UNICODE,
          pbkdf2_sha256.using(rounds=29000).hash(UNICODE), pbkdf2_sha256.verify),
        v("passlib-pbkdf2-sha512", "passlib pbkdf2_sha512", "25000 rounds (passlib default)", ASCII,
          pbkdf2_sha512.hash(ASCII), pbkdf2_sha512.verify),
        # Django's own hasher, and passlib's rendition of the same format.
        v("django-pbkdf2-sha256", "Django PBKDF2PasswordHasher", "1000 iterations", ASCII,
          django_hasher.encode(ASCII, django_hasher.salt(), iterations=1000), django_hasher.verify),
        v("django-pbkdf2-sha256", "Django PBKDF2PasswordHasher", "Django default iterations", UNICODE,
          django_hasher.encode(UNICODE, django_hasher.salt()), django_hasher.verify),
        v("django-pbkdf2-sha256", "passlib django_pbkdf2_sha256", "29000 iterations", ASCII,
          django_pbkdf2_sha256.using(rounds=29000).hash(ASCII), django_pbkdf2_sha256.verify),
        # argon2 PHC strings: pwdlib's recommended() (the current FastAPI tutorial), argon2-cffi.
        v("argon2", "pwdlib PasswordHash.recommended()", "argon2id m=65536,t=3,p=4 (pwdlib default)", ASCII,
          pwdlib_recommended.hash(ASCII), pwdlib_recommended.verify),
        v("argon2", "pwdlib Argon2Hasher", "argon2id m=65536,t=3,p=4 (pwdlib default)", UNICODE,
          PasswordHash((Argon2Hasher(),)).hash(UNICODE), pwdlib_recommended.verify),
        v("argon2", "argon2-cffi PasswordHasher", "argon2id m=2048,t=1,p=2", ASCII,
          cffi_small.hash(ASCII), cffi_verify(cffi_small)),
        v("argon2", "argon2-cffi PasswordHasher", "argon2i m=4096,t=2,p=1", ASCII,
          cffi_argon2i.hash(ASCII), cffi_verify(cffi_argon2i)),
        v("argon2", "passlib argon2", "passlib defaults", UNICODE,
          passlib_argon2.hash(UNICODE), passlib_argon2.verify),
    ]

    doc = {
        "about": "Generated by scripts/make-legacy-fixtures.py with the libraries below; do not edit by hand.",
        "generator": {
            name: version(name)
            for name in ["passlib", "bcrypt", "pwdlib", "argon2-cffi", "Django"]
        },
        "vectors": vectors,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(vectors)} vectors to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
