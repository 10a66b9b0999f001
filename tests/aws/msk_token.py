"""AWS's own MSK IAM signer (aws-msk-iam-sasl-signer-python) for fixed credentials, region and
signing time, as the reference streamctl's tokens are checked against (tests/aws_emulator.rs).

    python msk_token.py ACCESS_KEY SECRET_KEY SESSION_TOKEN|'' REGION EPOCH_SECONDS

prints {"token": ..., "expiry_ms": ..., "user_agent": ...} as JSON.
"""
import datetime
import json
import sys
from unittest import mock

import botocore.auth
from botocore.credentials import CredentialProvider, Credentials
from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

access, secret, session, region, epoch = sys.argv[1:6]


class Fixed(CredentialProvider):
    METHOD = "fixed"

    def load(self):
        return Credentials(access, secret, session or None)


# botocore reads the signing time from this function (naive UTC).
when = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).replace(tzinfo=None)
with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
    token, expiry_ms = MSKAuthTokenProvider.generate_auth_token_from_credentials_provider(region, Fixed())
print(json.dumps({
    "token": token,
    "expiry_ms": expiry_ms,
    "user_agent": MSKAuthTokenProvider.__get_user_agent__(),
}))
