"""moto's server, with fixes that make it behave as AWS documents.

1. KMS Sign and Verify honour MessageType=DIGEST. moto 5.2.1 ignores
   MessageType and always hashes the message it is given, so a pre-computed
   digest (what sigstore's awskms signer sends) would be hashed twice and no
   offline verifier would accept the signature.
2. S3 RestoreObject honours ?versionId=. moto 5.2.1 restores the latest
   version whatever version is named.
3. With IAM enforced (INITIAL_NO_AUTH_ACTION_COUNT), requests are checked
   against the IAM actions and resources AWS documents. moto 5.2.1 checks
   several S3 bucket reads (GetPublicAccessBlock, GetObjectLockConfiguration,
   GetBucketEncryption, GetBucketReplication, GetBucketOwnershipControls,
   GetBucketPolicyStatus) as s3:ListBucket, HeadObject of a version as
   s3:GetObject, S3 Control's account public access block as
   s3:GetPublicAccessBlock, and every KMS call against the resource "*", so
   a policy scoped to a key's ARN never matches. It also recomputes request
   signatures from a URL its web server has partly decoded (a "/" or ":" in
   a query value), so such requests fail as SignatureDoesNotMatch; and it
   answers a denied request of a JSON service (KMS, Config, CloudTrail,
   Organizations) in XML and of STS or S3 Control in a shape no SDK parses,
   so the client sees no AccessDenied at all.
4. Config's GetResourceConfigHistory gives timestamps as epoch seconds, as
   its JSON protocol requires. moto 5.2.1 sends "2024-01-01 00:00:00+00:00"
   strings, which no SDK decodes.
5. S3 server access logs are written in the documented record format
   (request line, referer and user agent quoted; the source bucket named).
   moto 5.2.1 writes the request line and user agent unquoted and names
   every bucket "originbucket", so no parser of AWS's format reads them.

Nothing else changes. Usage is moto.server's:
    python3 scripts/motoserver.py -H 127.0.0.1 -p PORT
"""
import contextvars
import json
import sys
from xml.sax.saxutils import escape

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

# --- S3 server access logs in AWS's record format -------------------------
import datetime as _datetime  # noqa: E402
import secrets as _secrets  # noqa: E402
from urllib.parse import urlsplit as _urlsplit  # noqa: E402


def _log_incoming_request(self, request, bucket_name):
    try:
        bucket = self.get_bucket(bucket_name)
        target = bucket.logging["TargetBucket"]
        prefix = bucket.logging.get("TargetPrefix", "") or ""
    except Exception:  # no such bucket, or no logging: nothing to write
        return
    now = _datetime.datetime.now(_datetime.timezone.utc)
    url = _urlsplit(request.url)
    line = url.path or "/"
    if url.query:
        line += "?" + url.query
    agent = (request.headers.get("User-Agent") or "-").replace('"', "'")
    record = " ".join([
        _secrets.token_hex(32), bucket_name, now.strftime("[%d/%b/%Y:%H:%M:%S +0000]"),
        getattr(request, "remote_addr", None) or "127.0.0.1", "-", _secrets.token_hex(8).upper(),
        "REST.%s.BUCKET" % request.method, "-", '"%s %s HTTP/1.1"' % (request.method, line), "200", "-", "-", "-", "1", "1",
        '"-"', '"%s"' % agent, "-", _secrets.token_hex(24), "SigV4", "ECDHE-RSA-AES128-GCM-SHA256", "AuthHeader",
        url.netloc or "-", "TLSv1.2", "-", "-",
    ])
    key = prefix + now.strftime("%Y-%m-%d-%H-%M-%S-") + _secrets.token_hex(8).upper()
    try:
        self.put_object(target, key, value=(record + "\n").encode())
    except Exception:  # delivery is best effort in AWS too
        pass


s3_models.S3Backend.log_incoming_request = _log_incoming_request

# --- IAM enforcement as AWS documents it ----------------------------------
from urllib.parse import quote, unquote, urlsplit  # noqa: E402

from werkzeug.exceptions import HTTPException  # noqa: E402

from moto import settings  # noqa: E402
from moto.core.authorization import ActionAuthenticatorMixin  # noqa: E402
from moto.iam import access_control  # noqa: E402
from moto.iam.access_control import IAMRequest  # noqa: E402
from moto.kms import responses as kms_responses  # noqa: E402
from moto.s3control import responses as s3control_responses  # noqa: E402

# Query-string subresource -> IAM action, for reads of a bucket or object.
s3_responses.ACTION_MAP["BUCKET"]["GET"].update(
    {
        "publicAccessBlock": "GetBucketPublicAccessBlock",
        "object-lock": "GetBucketObjectLockConfiguration",
        "encryption": "GetEncryptionConfiguration",
        "replication": "GetReplicationConfiguration",
        "ownershipControls": "GetBucketOwnershipControls",
        "policyStatus": "GetBucketPolicyStatus",
    }
)
s3_responses.ACTION_MAP["KEY"]["HEAD"]["versionId"] = "GetObjectVersion"
s3_responses.ACTION_MAP["KEY"]["GET"].update({"retention": "GetObjectRetention", "legal-hold": "GetObjectLegalHold"})

# S3 Control's operations on the account's public access block.
_S3CONTROL_ACTIONS = {
    "GetPublicAccessBlock": "GetAccountPublicAccessBlock",
    "PutPublicAccessBlock": "PutAccountPublicAccessBlock",
    "DeletePublicAccessBlock": "PutAccountPublicAccessBlock",
}


class _S3ControlIAMRequest(IAMRequest):
    def __init__(self, *args, action, **kwargs):
        super().__init__(*args, action=_S3CONTROL_ACTIONS.get(action, action), **kwargs)


def _s3control_authorize(self, resource="*"):
    ActionAuthenticatorMixin._authenticate_and_authorize_action(self, _S3ControlIAMRequest, resource)


s3control_responses.S3ControlResponse._authenticate_and_authorize_normal_action = _s3control_authorize


# Signatures are computed over the URI-encoded path (S3) and query, as the
# client encoded them: re-encode what the web server decoded.
_orig_create_aws_request = access_control.IAMRequestBase._create_aws_request


def _sigv4_encode(s, safe=""):
    return quote(unquote(s), safe=safe)


def _create_aws_request(self):
    request = _orig_create_aws_request(self)
    parts = urlsplit(request.url)
    path = parts.path
    if isinstance(self, access_control.S3IAMRequest):
        path = _sigv4_encode(path, safe="/")
    query = []
    for pair in parts.query.split("&") if parts.query else []:
        key, _, value = pair.partition("=")
        query.append(_sigv4_encode(key) + "=" + _sigv4_encode(value))
    request.url = path + ("?" + "&".join(query) if query else "")
    return request


access_control.IAMRequestBase._create_aws_request = _create_aws_request


# Errors in each protocol's shape: JSON with __type for the JSON services,
# <ErrorResponse><Error> for STS, IAM and S3 Control.
class _IAMError(HTTPException):
    code = 403

    def __init__(self, json_protocol, code, message):
        super().__init__()
        if json_protocol:
            self.description = json.dumps({"__type": code, "message": message})
        else:
            self.description = (
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Error><Type>Sender</Type>"
                f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
                "<RequestId>moto</RequestId></ErrorResponse>"
            )


def _is_json(iam_request):
    return bool(iam_request._headers.get("X-Amz-Target"))


def _raise_access_denied(self):
    code = "AccessDeniedException" if _is_json(self) else "AccessDenied"
    raise _IAMError(_is_json(self), code, f"User: {self._access_key.arn} is not authorized to perform: {self._action}")


def _raise_invalid_access_key(self, reason):
    if self._service == "ec2":
        return _orig_raise_invalid_access_key(self, reason)
    code = "UnrecognizedClientException" if _is_json(self) else "InvalidClientTokenId"
    raise _IAMError(_is_json(self), code, "The security token included in the request is invalid.")


def _raise_signature_does_not_match(self):
    if self._service == "ec2":
        return _orig_raise_signature_does_not_match(self)
    code = "InvalidSignatureException" if _is_json(self) else "SignatureDoesNotMatch"
    raise _IAMError(_is_json(self), code, "The request signature we calculated does not match the signature you provided.")


_orig_raise_invalid_access_key = IAMRequest._raise_invalid_access_key
_orig_raise_signature_does_not_match = IAMRequest._raise_signature_does_not_match
IAMRequest._raise_access_denied = _raise_access_denied
IAMRequest._raise_invalid_access_key = _raise_invalid_access_key
IAMRequest._raise_signature_does_not_match = _raise_signature_does_not_match


# KMS: a call naming a key (by id, ARN, alias or alias ARN) is authorized
# against the key's ARN; others (CreateKey, ListKeys) against "*".
def _kms_resource(self):
    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        return "*"  # IAM not enforced (yet): nothing to look up
    try:
        key_id = self._get_param("KeyId")
    except Exception:  # no JSON body
        return "*"
    if not key_id:
        return "*"
    try:
        return self.kms_backend.describe_key(key_id).arn
    except Exception:  # an unknown key: the call itself reports it
        return "*"


kms_responses.KmsResponse._determine_resource = _kms_resource

# --- Config's configuration items with JSON timestamps ---------------------
from datetime import datetime  # noqa: E402

from moto.config import responses as config_responses  # noqa: E402

_CONFIG_ITEM_TIMES = ("configurationItemCaptureTime", "resourceCreationTime", "configurationItemDeliveryTime")
_orig_config_history = config_responses.ConfigResponse.get_resource_config_history


def _epoch(value):
    if not isinstance(value, str):
        return value
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return value


def _config_history(self):
    doc = json.loads(_orig_config_history(self))
    for item in doc.get("configurationItems", []):
        for field in _CONFIG_ITEM_TIMES:
            if field in item:
                item[field] = _epoch(item[field])
    return json.dumps(doc)


config_responses.ConfigResponse.get_resource_config_history = _config_history

if __name__ == "__main__":
    server.main(sys.argv[1:])
