"""Smoke test of a Python client generated from proto/ against a running loopbackd.

Run by tests/tests/interop_python.rs, which generates the client with
`python -m grpc_tools.protoc -I proto --python_out=GEN --grpc_python_out=GEN ...`
and puts GEN on PYTHONPATH. By hand:

    PYTHONPATH=GEN .venv/bin/python tests/python/smoke.py \
        --target 127.0.0.1:50051 --token "$(loopbackd token --account alice@example.com)"

It creates an organization with an account token, lists it, checks that a call
without a token is UNAUTHENTICATED, and that CreateProject in an IN_SETUP
organization is FAILED_PRECONDITION with a google.rpc.ErrorInfo (reason
ENTITY_STATUS) in the `grpc-status-details-bin` trailer, decoded with the
generated google.rpc messages. Huge bad input (a 100 KB name, a 100 KB label
key, 10,000 unknown limit keys) comes back as INVALID_ARGUMENT naming the
field: the error stays small enough for grpc-core's metadata limit, which
would otherwise turn it into RESOURCE_EXHAUSTED. Exits non-zero with a
message on any mismatch.
"""

import argparse
import sys

import grpc

from google.rpc import error_details_pb2, status_pb2
from loopback.orgcore.v1 import (
    operator_pb2,
    operator_pb2_grpc,
    organization_pb2,
    organization_pb2_grpc,
    project_pb2,
    project_pb2_grpc,
)
from loopback.type.v1 import policy_pb2

TIMEOUT = 30


def check(condition, message):
    """Fails the smoke test with `message` unless `condition` holds."""
    if not condition:
        print(f"python smoke: FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def expect_error(call, code):
    """Runs `call`, which must fail with `code`; returns the grpc.RpcError."""
    try:
        response = call()
    except grpc.RpcError as error:
        check(
            error.code() == code,
            f"expected {code.name}, got {error.code().name}: {error.details()}",
        )
        return error
    check(False, f"expected {code.name}, got a response: {response}")
    return None


def status_details(error):
    """The google.rpc.Status carried in the `grpc-status-details-bin` trailer."""
    trailers = error.trailing_metadata() or ()
    raw = [value for key, value in trailers if key == "grpc-status-details-bin"]
    check(raw, f"no grpc-status-details-bin trailer; trailers: {trailers}")
    status = status_pb2.Status.FromString(raw[0])
    check(
        status.code == error.code().value[0],
        f"Status.code {status.code} does not match the gRPC status {error.code().name}",
    )
    return status


def error_info(status):
    """The google.rpc.ErrorInfo among the status details."""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    check(False, f"no google.rpc.ErrorInfo in the details: {status}")
    return None


def bad_fields(error):
    """The field paths a google.rpc.BadRequest in the error names."""
    fields = []
    for detail in status_details(error).details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields.extend(v.field for v in bad.field_violations)
    return fields


def huge_input_is_a_small_invalid_argument(orgs, projects, operator, org, auth, operator_auth):
    """Oversize values are refused as INVALID_ARGUMENT naming the field."""
    huge = "x" * 100_000
    error = expect_error(
        lambda: orgs.CreateOrganization(
            organization_pb2.CreateOrganizationRequest(
                organization=organization_pb2.Organization(display_name=huge),
            ),
            metadata=auth,
            timeout=TIMEOUT,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    check(bad_fields(error) == ["organization.display_name"], f"fields: {bad_fields(error)}")
    error = expect_error(
        lambda: projects.CreateProject(
            project_pb2.CreateProjectRequest(
                parent=org,
                project=project_pb2.Project(display_name="web", labels={"k" + huge: "v"}),
            ),
            metadata=auth,
            timeout=TIMEOUT,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    check(bad_fields(error) == ["project.labels"], f"fields: {bad_fields(error)}")
    check(len(error.details()) < 1000, f"message of {len(error.details())} characters")
    limits = {f"max_unknown_{i:05d}_{'y' * 20}": 1 for i in range(10_000)}
    error = expect_error(
        lambda: operator.SetCapabilities(
            operator_pb2.SetCapabilitiesRequest(
                name=org,
                capabilities=policy_pb2.Capabilities(limits=limits),
                reason="python smoke",
            ),
            metadata=operator_auth,
            timeout=TIMEOUT,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    fields = bad_fields(error)
    check(0 < len(fields) <= 20, f"{len(fields)} violations listed")
    check(
        all(f.startswith("capabilities.limits") or f == "" for f in fields),
        f"fields: {fields[:3]}",
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port of loopbackd")
    parser.add_argument("--token", required=True, help="an account token")
    parser.add_argument("--operator-token", required=True, help="an operator token")
    args = parser.parse_args()
    auth = (("authorization", f"Bearer {args.token}"),)
    operator_auth = (("authorization", f"Bearer {args.operator_token}"),)

    with grpc.insecure_channel(args.target) as channel:
        grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
        orgs = organization_pb2_grpc.OrganizationServiceStub(channel)
        projects = project_pb2_grpc.ProjectServiceStub(channel)

        created = orgs.CreateOrganization(
            organization_pb2.CreateOrganizationRequest(
                organization=organization_pb2.Organization(display_name="Acme (Python)"),
            ),
            metadata=auth,
            timeout=TIMEOUT,
        ).organization
        check(created.name.startswith("organizations/"), f"bad name: {created}")
        check(created.display_name == "Acme (Python)", f"bad display_name: {created}")
        check(
            created.verification_status == policy_pb2.VERIFICATION_STATUS_IN_SETUP,
            f"a new organization should be IN_SETUP: {created}",
        )

        listed = orgs.ListOrganizations(
            organization_pb2.ListOrganizationsRequest(), metadata=auth, timeout=TIMEOUT
        )
        names = [org.name for org in listed.organizations]
        check(created.name in names, f"{created.name} not listed: {names}")

        expect_error(
            lambda: orgs.ListOrganizations(
                organization_pb2.ListOrganizationsRequest(), timeout=TIMEOUT
            ),
            grpc.StatusCode.UNAUTHENTICATED,
        )

        error = expect_error(
            lambda: projects.CreateProject(
                project_pb2.CreateProjectRequest(
                    parent=created.name,
                    project=project_pb2.Project(display_name="web"),
                ),
                metadata=auth,
                timeout=TIMEOUT,
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
        info = error_info(status_details(error))
        check(info.reason == "ENTITY_STATUS", f"reason: {info}")
        check(info.domain == "loopback.cloud", f"domain: {info}")
        check(info.metadata.get("organization") == created.name, f"metadata: {info}")
        check(info.metadata.get("verification_status") == "IN_SETUP", f"metadata: {info}")

        operator = operator_pb2_grpc.OperatorServiceStub(channel)
        huge_input_is_a_small_invalid_argument(
            orgs, projects, operator, created.name, auth, operator_auth
        )

    print(f"python smoke: ok ({created.name}; CreateProject refused: {info.reason})")


if __name__ == "__main__":
    main()
