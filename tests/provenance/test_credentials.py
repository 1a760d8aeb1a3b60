import datetime as dt
import os

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

import watermark.provenance as provenance_module
from watermark.credentials import (
    CHAIN_FILE,
    KEY_FILE,
    CredentialError,
    Credentials,
    generate_dev_credentials,
    key_algorithm,
    load_credentials,
    write_credentials,
)
from watermark.provenance import ProvenanceError, ProvenanceSigner
from watermark.verify import verify_file

from .conftest import segment_info

PAST = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)


@pytest.mark.parametrize(
    "variant, code",
    [
        (dict(self_signed=True), "certificate_self_signed"),
        (dict(eku=(ExtendedKeyUsageOID.CODE_SIGNING,)), "certificate_wrong_eku"),
        (dict(eku=()), "certificate_wrong_eku"),
        (dict(now=PAST, valid_days=1), "certificate_expired"),
    ],
)
def test_unusable_certificates_fail_at_signer_construction_with_a_clear_code(variant, code):
    credentials = generate_dev_credentials(**variant).credentials
    with pytest.raises(CredentialError) as error:
        ProvenanceSigner(credentials)
    assert error.value.code == code
    assert "C2PA signing certificate" in str(error.value)


def test_a_ca_certificate_cannot_sign(dev):
    as_signer = Credentials(chain_pem=dev.ca_cert_pem, key_pem=dev.ca_key_pem)
    with pytest.raises(CredentialError) as error:
        ProvenanceSigner(as_signer)
    assert error.value.code in ("certificate_self_signed", "certificate_is_ca")


@pytest.mark.parametrize(
    "variant", [dict(eku=(ExtendedKeyUsageOID.CODE_SIGNING,)), dict(now=PAST, valid_days=1)]
)
def test_the_sdk_itself_rejects_what_our_check_rejects(monkeypatch, tiny_mp4, variant):
    # Our check only gives a clearer message earlier: without it, signing fails in the SDK.
    monkeypatch.setattr(provenance_module, "check_signing_chain", lambda *a, **k: None)
    signer = ProvenanceSigner(generate_dev_credentials(**variant).credentials)
    with pytest.raises(ProvenanceError) as error:
        signer.sign_segment(tiny_mp4, segment_info())
    assert error.value.code == "c2pa_sign_failed"


def test_ed25519_credentials_sign_trusted_segments(tiny_mp4):
    dev = generate_dev_credentials(alg="ed25519")
    signed = ProvenanceSigner(dev.credentials).sign_segment(tiny_mp4, segment_info())
    assert verify_file(signed.data, trust_anchors_pem=dev.ca_cert_pem, check_media=False).status == "trusted"


def test_written_credentials_load_back_with_private_keys_unreadable_to_others(tmp_path, dev):
    paths = write_credentials(tmp_path, dev)
    assert os.stat(paths[KEY_FILE]).st_mode & 0o077 == 0
    loaded = load_credentials(paths[CHAIN_FILE], paths[KEY_FILE])
    assert loaded.chain_pem == dev.credentials.chain_pem
    assert loaded.alg == "es256" == key_algorithm(dev.credentials.key_pem)
    assert dev.credentials.key_pem not in repr(loaded)


def test_missing_credential_files_say_which_setting_to_check(tmp_path):
    with pytest.raises(CredentialError) as error:
        load_credentials(tmp_path / "none.pem", tmp_path / "none.key")
    assert error.value.code == "credentials_unreadable"
    assert "C2PA_" in str(error.value)


def test_credentials_need_exactly_one_of_key_and_callback(dev):
    with pytest.raises(CredentialError):
        Credentials(chain_pem=dev.credentials.chain_pem)
    with pytest.raises(CredentialError):
        Credentials(chain_pem=dev.credentials.chain_pem, key_pem=dev.credentials.key_pem, sign_callback=bytes)


def test_callback_signer_for_keys_held_in_a_kms(dev, tiny_mp4):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    # Stands in for a KMS/HSM: the private key stays behind a sign(bytes) -> DER signature call.
    kms_key = serialization.load_pem_private_key(dev.credentials.key_pem.encode(), None)
    calls = []

    def kms_sign(data: bytes) -> bytes:
        calls.append(len(data))
        return kms_key.sign(data, ec.ECDSA(hashes.SHA256()))

    credentials = Credentials(chain_pem=dev.credentials.chain_pem, sign_callback=kms_sign, alg="es256")
    signed = ProvenanceSigner(credentials).sign_segment(tiny_mp4, segment_info())
    assert calls
    assert verify_file(signed.data, trust_anchors_pem=dev.ca_cert_pem, check_media=False).status == "trusted"
