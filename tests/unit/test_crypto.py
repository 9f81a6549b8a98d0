import time

import pytest

from services.core.crypto import PiiCipher

SECRET = "unit-test-pii-secret-0123456789"
OTHER_SECRET = "another-unit-test-secret-987654"


@pytest.fixture(scope="module")
def cipher() -> PiiCipher:
    return PiiCipher(SECRET)


@pytest.mark.parametrize(
    "plaintext",
    ["11010519491231002X", "13800138000", "张三", "", "a" * 10_000, "emoji 🙂 and 中文 mixed"],
)
def test_round_trip(cipher, plaintext):
    token = cipher.encrypt(plaintext)
    assert isinstance(token, str)
    assert cipher.decrypt(token) == plaintext


@pytest.mark.parametrize("plaintext", ["11010519491231002X", "13800138000", "张三"])
def test_plaintext_not_in_token(cipher, plaintext):
    token = cipher.encrypt(plaintext)
    assert plaintext not in token
    assert plaintext.encode("utf-8").hex() not in token


@pytest.mark.parametrize("plaintext", ["11010519491231002X", "13800138000"])
def test_same_plaintext_gives_different_tokens(cipher, plaintext):
    tokens = {cipher.encrypt(plaintext) for _ in range(20)}
    assert len(tokens) == 20


def test_token_decrypts_with_a_new_instance_of_same_secret(cipher):
    token = cipher.encrypt("11010519491231002X")
    assert PiiCipher(SECRET).decrypt(token) == "11010519491231002X"


@pytest.mark.parametrize(
    "value",
    ["11010519491231002X", "13800138000", "张三", ""],
)
def test_lookup_hash_deterministic(cipher, value):
    h = cipher.lookup_hash(value)
    assert h == cipher.lookup_hash(value)
    assert h == PiiCipher(SECRET).lookup_hash(value)
    assert len(h) == 64
    assert all(c in "0123456789abcdef" for c in h)


@pytest.mark.parametrize(
    "a, b",
    [
        ("11010519491231002X", "11010519491231002x"),
        ("13800138000", "13800138001"),
        ("张三", "张四"),
    ],
)
def test_lookup_hash_differs_for_different_values(cipher, a, b):
    assert cipher.lookup_hash(a) != cipher.lookup_hash(b)


@pytest.mark.parametrize("value", ["11010519491231002X", "13800138000"])
def test_lookup_hash_differs_for_different_keys(cipher, value):
    assert cipher.lookup_hash(value) != PiiCipher(OTHER_SECRET).lookup_hash(value)


def test_lookup_hash_is_not_plain_sha256(cipher):
    import hashlib

    value = "11010519491231002X"
    assert cipher.lookup_hash(value) != hashlib.sha256(value.encode()).hexdigest()


def _tampered(token: str) -> str:
    middle = len(token) // 2
    replacement = "A" if token[middle] != "A" else "B"
    return token[:middle] + replacement + token[middle + 1:]


@pytest.mark.parametrize(
    "make_token",
    [
        lambda c: "not-a-token",
        lambda c: "",
        lambda c: "中文",
        lambda c: _tampered(c.encrypt("11010519491231002X")),
        lambda c: c.encrypt("11010519491231002X")[:-4],
        lambda c: PiiCipher(OTHER_SECRET).encrypt("11010519491231002X"),
    ],
    ids=["garbage", "empty", "non-ascii", "tampered", "truncated", "other-key"],
)
def test_bad_token_raises_value_error(cipher, make_token):
    with pytest.raises(ValueError, match="invalid PII token"):
        cipher.decrypt(make_token(cipher))


@pytest.mark.parametrize("secret", ["", "short", "x" * 15, None, b"0123456789abcdef0123"])
def test_short_or_non_string_secret_rejected(secret):
    with pytest.raises(ValueError, match="at least 16 characters"):
        PiiCipher(secret)


def test_sixteen_char_secret_accepted():
    c = PiiCipher("x" * 16)
    assert c.decrypt(c.encrypt("ok")) == "ok"


def test_repr_hides_key_material(cipher):
    assert SECRET not in repr(cipher)
    assert repr(cipher) == "PiiCipher(<redacted>)"


def test_encrypt_decrypt_is_fast(cipher):
    n = 2000
    start = time.perf_counter()
    for i in range(n):
        assert cipher.decrypt(cipher.encrypt(f"1380013{i:04d}")) == f"1380013{i:04d}"
    elapsed = time.perf_counter() - start
    # Thousands per second with a generous margin for slow CI machines.
    assert elapsed < 2.0, f"{n} round trips took {elapsed:.2f}s"
