"""The ARM error shape every refusal of the emulator answers with."""

from __future__ import annotations


class ArmError(Exception):
    """A refusal that becomes `{"error": {"code", "message"}}` with an HTTP status."""

    def __init__(
        self, status: int, code: str, message: str, target: str | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target

    def body(self) -> dict[str, object]:
        """The JSON body Azure Resource Manager sends for this error."""
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        return {"error": error}


def resource_group_not_found(name: str) -> ArmError:
    """The 404 ARM answers for a resource group that does not exist."""
    return ArmError(
        404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found."
    )


def resource_not_found(resource_type: str, name: str, resource_group: str) -> ArmError:
    """The 404 ARM answers for a resource that does not exist."""
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' under resource group "
        f"'{resource_group}' was not found. For more details please go to "
        "https://aka.ms/ARMResourceNotFoundFix",
    )


def subscription_not_found(subscription_id: str) -> ArmError:
    """The 404 ARM answers for a subscription it does not know."""
    return ArmError(
        404,
        "SubscriptionNotFound",
        f"The subscription '{subscription_id}' could not be found.",
    )
