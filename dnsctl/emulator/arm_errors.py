"""ARM error answers, in the two shapes Azure uses.

The ARM gateway wraps its errors (`{"error": {...}}`, plus `x-ms-failure-cause: gateway`); the Private DNS
resource provider answers unwrapped (`{"code": ..., "message": ...}`). Messages marked "recorded" are copied
from live sessions; the others are the emulator's own wording for cases no recording shows.
"""

from __future__ import annotations

from typing import Any


class ArmError(Exception):
    """An error answer: HTTP status, JSON body and extra headers."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}
        super().__init__(f"{status} {body}")


def gateway_error(status: int, code: str, message: str) -> ArmError:
    return ArmError(status, {"error": {"code": code, "message": message}}, {"x-ms-failure-cause": "gateway"})


def provider_error(status: int, code: str, message: str) -> ArmError:
    return ArmError(status, {"code": code, "message": message})


def zone_not_found(resource_group: str, zone: str) -> ArmError:
    # recorded (GET zone)
    return gateway_error(
        404,
        "ResourceNotFound",
        f"The Resource 'Microsoft.Network/privateDnsZones/{zone}' under resource group '{resource_group}' "
        "was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def parent_zone_not_found(action: str, type_segment: str, zone_arm_id: str) -> ArmError:
    # recorded for action 'write'; ARM uses the same template for 'read' and 'delete'
    return gateway_error(
        404,
        "ParentResourceNotFound",
        f"Failed to perform '{action}' on resource(s) of type 'privateDnsZones/{type_segment}', "
        f"because the parent resource '{zone_arm_id}' could not be found.",
    )


def record_set_not_found(name: str, resource_group: str, subscription: str) -> ArmError:
    # recorded (Azure CLI test_add_record_when_record_set_is_empty)
    return provider_error(
        404,
        "NotFound",
        f"The resource record '{name}' does not exist in resource group '{resource_group}' "
        f"of subscription '{subscription}'.",
    )


def etag_mismatch(name: str) -> ArmError:
    # recorded
    return provider_error(
        412, "PreconditionFailed", f"The Record set {name} has been modified (etag mismatch)."
    )


def already_exists(name: str) -> ArmError:
    # recorded
    return provider_error(
        412, "PreconditionFailed", f"The Record set {name} exists already and hence cannot be created again."
    )


def does_not_exist(name: str) -> ArmError:
    return provider_error(412, "PreconditionFailed", f"The Record set {name} does not exist.")


def etag_matches(name: str) -> ArmError:
    return provider_error(
        412, "PreconditionFailed", f"The Record set {name} has not been modified (etag match)."
    )


def cname_beside_other_type() -> ArmError:
    # public Azure DNS wording, reported in the wild
    return provider_error(
        409,
        "Conflict",
        "The CNAME record could not be created because another record with the same name already exists "
        "in this zone.",
    )


def other_type_beside_cname(record_type: str) -> ArmError:
    return provider_error(
        409,
        "Conflict",
        f"The {record_type} record could not be created because a CNAME record with the same name already "
        "exists in this zone.",
    )


def bad_request(message: str) -> ArmError:
    return provider_error(400, "BadRequest", message)


def invalid_content(detail: str) -> ArmError:
    return gateway_error(
        400,
        "InvalidRequestContent",
        f"The request content was invalid and could not be deserialized: {detail}",
    )


def missing_api_version() -> ArmError:
    return gateway_error(
        400,
        "MissingApiVersionParameter",
        "The api-version query parameter (?api-version=) is required for all requests.",
    )


def unsupported_api_version(version: str, supported: tuple[str, ...]) -> ArmError:
    return gateway_error(
        400,
        "NoRegisteredProviderFound",
        f"No registered resource provider found for location 'global' and API version '{version}' for type "
        f"'privateDnsZones'. The supported api-versions are '{', '.join(supported)}'.",
    )


def invalid_resource_type(type_segment: str, api_version: str) -> ArmError:
    return gateway_error(
        400,
        "InvalidResourceType",
        f"The resource type 'privateDnsZones/{type_segment}' could not be found in the namespace "
        f"'Microsoft.Network' for api version '{api_version}'.",
    )


def method_not_allowed(method: str, what: str) -> ArmError:
    return gateway_error(405, "MethodNotAllowed", f"The emulator does not implement {method} on {what}.")


def no_route(path: str) -> ArmError:
    return gateway_error(
        404, "NotFound", f"The emulator serves only Private DNS zones and record sets, not '{path}'."
    )


def missing_token() -> ArmError:
    error = gateway_error(
        401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
    )
    error.headers["WWW-Authenticate"] = (
        'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", '
        "error_description=\"The authentication failed because of missing 'Authorization' header.\""
    )
    return error


def throttled(kind: str, subscription: str, retry_after: str) -> ArmError:
    error = gateway_error(
        429,
        "SubscriptionRequestsThrottled",
        f"Number of '{kind}' requests for subscription '{subscription}' exceeded. Please try again after "
        f"'{retry_after}' seconds after additional tips available at https://aka.ms/ARMThrottling",
    )
    error.headers["Retry-After"] = retry_after
    return error


_FAILURE_CODES = {
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def injected_failure(status: int) -> ArmError:
    if status == 403:
        # What ARM answers an identity without a role assignment on the scope.
        return gateway_error(
            403,
            "AuthorizationFailed",
            "The client does not have authorization to perform action "
            "'Microsoft.Network/privateDnsZones/*' over the scope, or the scope is invalid. "
            "(Injected by the emulator's fault plan.)",
        )
    return gateway_error(
        status,
        _FAILURE_CODES.get(status, "InjectedFailure"),
        f"Injected failure ({status}) from the emulator's fault plan.",
    )
