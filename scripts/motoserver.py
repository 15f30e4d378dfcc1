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
   a query value), and of a request with neither a body nor a query string
   (GuardDuty's GET /detector) over its headers as the payload, so such
   requests fail as SignatureDoesNotMatch; and it answers a denied request
   of a JSON service (KMS, Config, CloudTrail, Organizations, GuardDuty,
   Security Hub) in XML and of STS or S3 Control in a shape no SDK parses,
   so the client sees no AccessDenied at all.
4. Config's GetResourceConfigHistory gives timestamps as epoch seconds, as
   its JSON protocol requires, and tags as a map. moto 5.2.1 sends
   "2024-01-01 00:00:00+00:00" strings, and an IAM role's tags as a list
   of {Key, Value}, which no SDK decodes.
5. Security Hub's GetFindings and BatchImportFindings answer
   InvalidAccessException for an account that has not enabled Security
   Hub, and GetFindings applies its Filters (string, date and number
   filters on top-level fields: AwsAccountId, UpdatedAt, SeverityLabel...)
   and SortCriteria. moto 5.2.1 ignores both and answers every account.
6. GuardDuty's findings: ListFindings (POST /detector/{id}/findings, with
   findingCriteria and sortCriteria), GetFindings (POST
   /detector/{id}/findings/get) and CreateSampleFindings (POST
   /detector/{id}/findings/create), in AWS's REST-JSON wire format with
   camelCase fields. moto 5.2.1 has none of them. Tests put findings of
   their choosing in through a test-only route of moto's own API, which
   AWS does not have:
       POST /moto-api/static/guardduty/findings
       {"account_id": "...", "region": "...", "detectorId": "...",
        "findings": [<GuardDuty Finding, camelCase>...]}
   Each finding is stored as given (id, accountId, region, arn, createdAt
   and updatedAt are filled in when missing); one with an existing id
   replaces it.
7. Organizations' ListAccounts answers AWSOrganizationsNotInUseException
   for an account in no organization, as AWS does. moto 5.2.1 lists no
   accounts.
   its JSON protocol requires. moto 5.2.1 sends "2024-01-01 00:00:00+00:00"
   strings, which no SDK decodes.
8. S3 server access logs are written in the documented record format
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
    if not self._body and self._method in ("GET", "HEAD", "DELETE"):
        # A request without a body or query string (GuardDuty's GET
        # /detector) was signed over an empty payload; moto puts the
        # request's headers in its place.
        request.data = b""
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


# The REST-JSON services custody calls: no X-Amz-Target, JSON errors.
_REST_JSON_SERVICES = {"guardduty", "securityhub"}


def _is_json(iam_request):
    return bool(iam_request._headers.get("X-Amz-Target")) or iam_request._service in _REST_JSON_SERVICES


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
        if isinstance(item.get("tags"), list):
            item["tags"] = {t.get("Key", t.get("key")): t.get("Value", t.get("value")) for t in item["tags"] if isinstance(t, dict)}
    return json.dumps(doc)


config_responses.ConfigResponse.get_resource_config_history = _config_history

# --- Security Hub findings: subscription and filters -----------------------
from datetime import timezone  # noqa: E402

from moto.securityhub import models as securityhub_models  # noqa: E402
from moto.securityhub.exceptions import SecurityHubClientError  # noqa: E402
from moto.utilities.paginator import paginate  # noqa: E402


def _sh_not_subscribed():
    return SecurityHubClientError("InvalidAccessException", "Account is not subscribed to AWS Security Hub")


def _parse_time(value):
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=timezone.utc)
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _string_match(value, flt):
    want, cmp = flt.get("Value", ""), flt.get("Comparison", "EQUALS")
    value = "" if value is None else str(value)
    return {
        "EQUALS": value == want,
        "NOT_EQUALS": value != want,
        "PREFIX": value.startswith(want),
        "PREFIX_NOT_EQUALS": not value.startswith(want),
        "CONTAINS": want in value,
        "NOT_CONTAINS": want not in value,
    }.get(cmp, False)


def _date_match(value, flt):
    t = _parse_time(value) if value is not None else None
    if t is None:
        return False
    if flt.get("DateRange"):
        unit = {"DAYS": 86400}.get(flt["DateRange"].get("Unit", "DAYS"), 86400)
        return (datetime.now(timezone.utc) - t).total_seconds() <= flt["DateRange"].get("Value", 0) * unit
    start, end = flt.get("Start"), flt.get("End")
    if start and (_parse_time(start) is None or t < _parse_time(start)):
        return False
    if end and (_parse_time(end) is None or t > _parse_time(end)):
        return False
    return True


def _number_match(value, flt):
    if not isinstance(value, (int, float)):
        return False
    checks = {"Eq": lambda v, w: v == w, "Gte": lambda v, w: v >= w, "Lte": lambda v, w: v <= w,
              "Gt": lambda v, w: v > w, "Lt": lambda v, w: v < w}
    return all(f(value, flt[k]) for k, f in checks.items() if k in flt)


# Filter names whose value is not the top-level field of the same name.
_SH_FIELDS = {
    "SeverityLabel": lambda f: (f.get("Severity") or {}).get("Label"),
    "SeverityNormalized": lambda f: (f.get("Severity") or {}).get("Normalized"),
    "WorkflowStatus": lambda f: (f.get("Workflow") or {}).get("Status"),
    "ResourceType": lambda f: [r.get("Type") for r in f.get("Resources") or []],
    "ResourceId": lambda f: [r.get("Id") for r in f.get("Resources") or []],
}


def _sh_field(finding, name):
    return _SH_FIELDS[name](finding) if name in _SH_FIELDS else finding.get(name)


def _sh_filter_match(finding, name, flts):
    value = _sh_field(finding, name)
    values = value if isinstance(value, list) else [value]
    for flt in flts:
        if "Comparison" in flt:
            match = _string_match
        elif {"Start", "End", "DateRange"} & set(flt):
            match = _date_match
        else:
            match = _number_match
        # Several filters on one field: any of them (AWS ORs EQUALS, ANDs
        # the negative comparisons; the findings here need only the former).
        if any(match(v, flt) for v in values):
            return True
    return False


@paginate(pagination_model=securityhub_models.SecurityHubBackend.PAGINATION_MODEL)
def get_findings(self, filters=None, sort_criteria=None, max_results=None):  # the name the paginator looks up
    if not self.enabled:
        raise _sh_not_subscribed()
    found = [f.as_dict() for f in self.findings]
    for name, flts in (filters or {}).items():
        if flts:
            found = [f for f in found if _sh_filter_match(f, name, flts)]
    for crit in reversed(sort_criteria or []):
        field = crit.get("Field")
        found.sort(key=lambda f: str(_sh_field(f, field) or ""), reverse=crit.get("SortOrder") == "desc")
    return found


_orig_sh_import = securityhub_models.SecurityHubBackend.batch_import_findings


def _sh_batch_import(self, findings):
    if not self.enabled:
        raise _sh_not_subscribed()
    return _orig_sh_import(self, findings)


securityhub_models.SecurityHubBackend.get_findings = get_findings
securityhub_models.SecurityHubBackend.batch_import_findings = _sh_batch_import

# --- GuardDuty findings ------------------------------------------------------
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.core.common_types import TYPE_RESPONSE  # noqa: E402
from moto.guardduty import models as guardduty_models  # noqa: E402
from moto.guardduty import responses as guardduty_responses  # noqa: E402
from moto.guardduty import urls as guardduty_urls  # noqa: E402
from moto.guardduty.exceptions import GuardDutyException  # noqa: E402
from moto.moto_api._internal import mock_random  # noqa: E402
from moto.moto_api._internal import responses as motoapi_responses  # noqa: E402
from moto.moto_api._internal import urls as motoapi_urls  # noqa: E402


class _GuardDutyBadRequest(GuardDutyException):
    code = 400

    def __init__(self, message):
        super().__init__("BadRequestException", message)


def _gd_findings(detector):
    if not hasattr(detector, "custody_findings"):
        detector.custody_findings = {}
    return detector.custody_findings


def _gd_now():
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _gd_put(backend, detector_id, finding):
    detector = backend.get_detector(detector_id)
    f = dict(finding)
    f.setdefault("id", mock_random.get_random_hex(length=32))
    f.setdefault("accountId", backend.account_id)
    f.setdefault("region", backend.region_name)
    f.setdefault("partition", "aws")
    f.setdefault("arn", f"arn:aws:guardduty:{f['region']}:{f['accountId']}:detector/{detector_id}/finding/{f['id']}")
    f.setdefault("schemaVersion", "2.0")
    now = _gd_now()
    f.setdefault("createdAt", now)
    f.setdefault("updatedAt", now)
    f.setdefault("severity", 5.0)
    f.setdefault("type", "Policy:S3/BucketBlockPublicAccessDisabled")
    f.setdefault("resource", {"resourceType": "S3Bucket"})
    f.setdefault("service", {"serviceName": "guardduty", "detectorId": detector_id, "archived": False, "count": 1})
    _gd_findings(detector)[f["id"]] = f
    return f


def _gd_value(finding, path):
    v = finding
    for part in path.split("."):
        if isinstance(v, list):
            v = [x.get(part) if isinstance(x, dict) else None for x in v]
            v = [x for x in v if x is not None]
        elif isinstance(v, dict):
            v = v.get(part)
        else:
            return None
    return v


_GD_TIME_FIELDS = {"updatedAt", "createdAt", "service.eventFirstSeen", "service.eventLastSeen"}


def _gd_cmp_value(value, path):
    if path in _GD_TIME_FIELDS:
        t = _parse_time(value) if value is not None else None
        return int(t.timestamp() * 1000) if t else None
    return value


def _gd_condition_match(finding, path, cond):
    raw = _gd_value(finding, path)
    values = [_gd_cmp_value(v, path) for v in (raw if isinstance(raw, list) else [raw])]
    values = [v for v in values if v is not None]
    eq = cond.get("eq") or cond.get("equals")
    neq = cond.get("neq") or cond.get("notEquals")
    if eq is not None and not any(str(v).lower() == str(w).lower() for v in values for w in eq):
        return False
    if neq is not None and any(str(v).lower() == str(w).lower() for v in values for w in neq):
        return False
    bounds = [("gt", "greaterThan", lambda v, w: v > w), ("gte", "greaterThanOrEqual", lambda v, w: v >= w),
              ("lt", "lessThan", lambda v, w: v < w), ("lte", "lessThanOrEqual", lambda v, w: v <= w)]
    for short, long_, op in bounds:
        w = cond.get(long_, cond.get(short))
        if w is None:
            continue
        nums = [v for v in values if isinstance(v, (int, float))]
        if not any(op(v, w) for v in nums):
            return False
    return True


def _gd_list_findings(self):
    detector_id = self.path.split("/")[-2]
    detector = self.guardduty_backend.get_detector(detector_id)
    body = json.loads(self.body or "{}")
    max_results = body.get("maxResults", 50)
    if not isinstance(max_results, int) or max_results < 1 or max_results > 50:
        raise _GuardDutyBadRequest("maxResults must be between 1 and 50")
    found = list(_gd_findings(detector).values())
    for path, cond in ((body.get("findingCriteria") or {}).get("criterion") or {}).items():
        found = [f for f in found if _gd_condition_match(f, path, cond)]
    sort = body.get("sortCriteria") or {}
    if sort.get("attributeName"):
        attr = sort["attributeName"]
        found.sort(key=lambda f: (_gd_cmp_value(_gd_value(f, attr), attr) is None, _gd_cmp_value(_gd_value(f, attr), attr) or 0
                                  if attr in _GD_TIME_FIELDS or attr == "severity" else str(_gd_value(f, attr))),
                   reverse=sort.get("orderBy") == "DESC")
    try:
        start = int(body.get("nextToken") or 0)
    except ValueError:
        raise _GuardDutyBadRequest("The request is rejected because the nextToken is invalid.")
    page = found[start:start + max_results]
    next_token = str(start + max_results) if start + max_results < len(found) else None
    out = {"findingIds": [f["id"] for f in page]}
    if next_token:
        out["nextToken"] = next_token
    return json.dumps(out)


def _gd_get_findings(self):
    detector_id = self.path.split("/")[-3]
    detector = self.guardduty_backend.get_detector(detector_id)
    body = json.loads(self.body or "{}")
    ids = body.get("findingIds") or []
    if len(ids) > 50:
        raise _GuardDutyBadRequest("findingIds can have at most 50 items")
    findings = _gd_findings(detector)
    return json.dumps({"findings": [findings[i] for i in ids if i in findings]})


# CreateSampleFindings: one sample finding per type asked for (a default
# S3 one when none), marked as AWS marks them (service.additionalInfo.sample).
def _gd_create_sample_findings(self):
    detector_id = self.path.split("/")[-3]
    body = json.loads(self.body or "{}")
    for t in body.get("findingTypes") or ["Policy:S3/BucketBlockPublicAccessDisabled"]:
        _gd_put(self.guardduty_backend, detector_id, {
            "type": t, "title": f"Sample finding of type {t}", "description": "This is a sample finding.",
            "severity": 5.0, "resource": {"resourceType": "S3Bucket", "s3BucketDetails": [{"name": "bucketName", "arn": "arn:aws:s3:::bucketName", "type": "Destination"}]},
            "service": {"serviceName": "guardduty", "detectorId": detector_id, "archived": False, "count": 1,
                        "additionalInfo": {"value": "{\"sample\":true}", "type": "default"}},
        })
    return "{}"


def _set_guardduty_findings(self, request, full_url, headers) -> TYPE_RESPONSE:
    body = self._get_body(headers, request)
    backend = guardduty_models.guardduty_backends[body.get("account_id", DEFAULT_ACCOUNT_ID)][body.get("region", "us-east-1")]
    try:
        stored = [_gd_put(backend, body["detectorId"], f) for f in body.get("findings", [])]
    except Exception as e:  # an unknown detector, a finding that is not an object
        return 400, {}, json.dumps({"message": str(e)})
    return 201, {}, json.dumps({"findingIds": [f["id"] for f in stored]})


guardduty_responses.GuardDutyResponse.list_findings = _gd_list_findings
guardduty_responses.GuardDutyResponse.get_findings = _gd_get_findings
guardduty_responses.GuardDutyResponse.create_sample_findings = _gd_create_sample_findings
guardduty_urls.url_paths.update({
    "{0}/detector/(?P<detector_id>[^/]+)/findings$": guardduty_responses.GuardDutyResponse.dispatch,
    "{0}/detector/(?P<detector_id>[^/]+)/findings/get$": guardduty_responses.GuardDutyResponse.dispatch,
    "{0}/detector/(?P<detector_id>[^/]+)/findings/create$": guardduty_responses.GuardDutyResponse.dispatch,
})
motoapi_responses.MotoAPIResponse.set_guardduty_findings = _set_guardduty_findings
motoapi_urls.url_paths["{0}/moto-api/static/guardduty/findings"] = motoapi_urls.response_instance.set_guardduty_findings

# --- Organizations: ListAccounts outside an organization ------------------
from moto.organizations import responses as org_responses  # noqa: E402
from moto.organizations.exceptions import AWSOrganizationsNotInUseException  # noqa: E402

_orig_org_list_accounts = org_responses.OrganizationsResponse.list_accounts


def _org_list_accounts(self):
    if self.organizations_backend.org is None:
        raise AWSOrganizationsNotInUseException
    return _orig_org_list_accounts(self)


org_responses.OrganizationsResponse.list_accounts = _org_list_accounts

if __name__ == "__main__":
    server.main(sys.argv[1:])
