"""moto's server, with two fixes that make it behave as AWS documents.

1. KMS Sign and Verify honour MessageType=DIGEST. moto 5.2.1 ignores
   MessageType and always hashes the message it is given, so a pre-computed
   digest (what sigstore's awskms signer sends) would be hashed twice and no
   offline verifier would accept the signature.
2. S3 RestoreObject honours ?versionId=. moto 5.2.1 restores the latest
   version whatever version is named.

Nothing else changes. Usage is moto.server's:
    python3 scripts/motoserver.py -H 127.0.0.1 -p PORT
"""
import contextvars
import sys

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
from moto import server
from moto.kms import responses
from moto.kms import utils as kms_utils

_message_type = contextvars.ContextVar("kms_message_type", default="RAW")


def _with_message_type(handler):
    def wrapped(self):
        token = _message_type.set(self._get_param("MessageType") or "RAW")
        try:
            return handler(self)
        finally:
            _message_type.reset(token)

    return wrapped


def _hash(algorithm):
    return asym_utils.Prehashed(algorithm) if _message_type.get() == "DIGEST" else algorithm


def _ec_sign(self, message, signing_algorithm):
    kms_utils.validate_signing_algorithm(signing_algorithm, self.valid_signing_algorithms)
    algorithm = _hash(self._ECDSAPrivateKey__hash_algorithm(signing_algorithm))
    return self.private_key.sign(message, ec.ECDSA(algorithm))


def _ec_verify(self, message, signature, signing_algorithm):
    kms_utils.validate_signing_algorithm(signing_algorithm, self.valid_signing_algorithms)
    algorithm = _hash(self._ECDSAPrivateKey__hash_algorithm(signing_algorithm))
    try:
        self.private_key.public_key().verify(signature, message, ec.ECDSA(algorithm))
        return True
    except Exception:  # InvalidSignature
        return False


def _rsa_sign(self, message, signing_algorithm):
    kms_utils.validate_signing_algorithm(signing_algorithm, kms_utils.SigningAlgorithm.rsa_signing_algorithms())
    pad, algorithm = self._RSAPrivateKey__padding_and_hash_algorithm(signing_algorithm)
    return self.private_key.sign(message, pad, _hash(algorithm))


def _rsa_verify(self, message, signature, signing_algorithm):
    kms_utils.validate_signing_algorithm(signing_algorithm, kms_utils.SigningAlgorithm.rsa_signing_algorithms())
    pad, algorithm = self._RSAPrivateKey__padding_and_hash_algorithm(signing_algorithm)
    try:
        self.private_key.public_key().verify(signature, message, pad, _hash(algorithm))
        return True
    except Exception:  # InvalidSignature
        return False


responses.KmsResponse.sign = _with_message_type(responses.KmsResponse.sign)
responses.KmsResponse.verify = _with_message_type(responses.KmsResponse.verify)
kms_utils.ECDSAPrivateKey.sign = _ec_sign
kms_utils.ECDSAPrivateKey.verify = _ec_verify
kms_utils.RSAPrivateKey.sign = _rsa_sign
kms_utils.RSAPrivateKey.verify = _rsa_verify

# --- S3 RestoreObject with a version id -----------------------------------
from moto.s3 import models as s3_models  # noqa: E402
from moto.s3 import responses as s3_responses  # noqa: E402

_restore_version = contextvars.ContextVar("s3_restore_version", default=None)
_orig_key_post = s3_responses.S3Response._key_response_post


def _key_post(self, request, body, bucket_name, query, key_name):
    version = query.get("versionId")
    if isinstance(version, list):
        version = version[0] if version else None
    token = _restore_version.set(version)
    try:
        return _orig_key_post(self, request, body, bucket_name, query, key_name)
    finally:
        _restore_version.reset(token)


def _restore_object(self, bucket_name, key_name, days, type_):
    key = self.get_object(bucket_name, key_name, version_id=_restore_version.get())
    if not key:
        raise s3_models.MissingKey
    if key.storage_class not in s3_models.ARCHIVE_STORAGE_CLASSES:
        raise s3_models.InvalidObjectState(storage_class=key.storage_class)
    had_expiry_date = key.expiry_date is not None
    if days:
        key.restore(int(days))
    return had_expiry_date


s3_responses.S3Response._key_response_post = _key_post
s3_models.S3Backend.restore_object = _restore_object

if __name__ == "__main__":
    server.main(sys.argv[1:])
