"""The webhook that release notifications are posted to, as a Prefect block."""

from __future__ import annotations

from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.types import SecretDict
from pydantic import SecretStr

NOTIFY_BLOCK = "imagerelay-notify"
NOTIFY_BLOCK_TYPE = "custom-webhook"


def release_webhook(url: SecretStr) -> CustomWebhookNotificationBlock:
    """A webhook block that POSTs JSON to url, which is kept among its secrets.

    Webhook URLs often carry their token (Slack, Teams, ntfy), so the URL field is
    only a placeholder filled from the block's encrypted secrets when it is sent.
    """
    return CustomWebhookNotificationBlock(
        name="imagerelay",
        url="{{url}}",
        method="POST",
        json_data={
            "text": "{{subject}}\n{{body}}",
            "subject": "{{subject}}",
            "body": "{{body}}",
        },
        headers=None,
        cookies=None,
        secrets=SecretDict({"url": url.get_secret_value()}),
    )
