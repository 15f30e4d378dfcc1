"""moto's server, with KMS Sign and Verify honouring MessageType=DIGEST.

moto 5.2.1 ignores MessageType and always hashes the message it is given,
so a pre-computed digest (what sigstore's awskms signer sends, as AWS
documents) would be hashed twice and no offline verifier would accept the
signature. AWS signs a DIGEST message as given; this wrapper makes moto do
the same and changes nothing else. Usage is moto.server's:
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

if __name__ == "__main__":
    server.main(sys.argv[1:])
