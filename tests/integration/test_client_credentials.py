"""What the Python client and the CLI present: the token, from where, and the
TLS roots, seen by a server of the test's own that answers with what arrived
(so these hold whatever the vault's gate does), and the errors a gate sends,
in words."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from tests.pki import Pki, make_pki
from vault.cli import main
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc
from vault_client import (
    CredentialsError,
    PermissionDeniedError,
    PlaintextRefused,
    RateLimitedError,
    ServerUnreachableError,
    UnauthenticatedError,
    VaultClient,
)
from vault_client.credentials import (
    TLS_CA_ENV,
    TOKEN_ENV,
    TOKEN_FILE_ENV,
    find_token,
    is_local,
)

ENVIRONMENT = (TOKEN_ENV, TOKEN_FILE_ENV, TLS_CA_ENV, "CONSENT_VAULT_DATA")


@pytest.fixture(autouse=True)
def no_credentials_around(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Neither the environment nor a demo's files in the working directory
    give a token, unless a test says so."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")


def _status(code: int, message: str, reason: str, **metadata: str) -> grpc.Status:
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="consent-vault", metadata=metadata))
    details = [info]
    if reason == "RATE_LIMITED":
        retry = any_pb2.Any()
        retry.Pack(
            error_details_pb2.RetryInfo(
                retry_delay=duration_pb2.Duration(seconds=2, nanos=500_000_000)
            )
        )
        details.append(retry)
    return rpc_status.to_status(status_pb2.Status(code=code, message=message, details=details))


class Echo(pb_grpc.SubjectServiceServicer):
    """GetSubject answers a subject named after the bearer token that came,
    and refuses as the vault's gate would for the tokens named so."""

    def GetSubject(
        self, request: pb.GetSubjectRequest, context: grpc.ServicerContext
    ) -> pb.GetSubjectResponse:
        header = dict(context.invocation_metadata()).get("authorization", "")
        token = header.removeprefix("Bearer ")
        if not header:
            context.abort_with_status(
                _status(code_pb2.UNAUTHENTICATED, "no token", "TOKEN_MISSING")
            )
        if token == "cvt_revoked":
            context.abort_with_status(
                _status(code_pb2.UNAUTHENTICATED, "revoked", "TOKEN_REVOKED", token="tokens/abc")
            )
        if token == "junk":
            context.abort_with_status(
                _status(code_pb2.UNAUTHENTICATED, "malformed", "TOKEN_MALFORMED")
            )
        if token == "cvt_auditor":
            context.abort_with_status(
                _status(
                    code_pb2.PERMISSION_DENIED,
                    "not for this role",
                    "ROLE_NOT_ALLOWED",
                    role="auditor",
                    method="/vault.v1.SubjectService/GetSubject",
                )
            )
        if token == "cvt_busy":
            context.abort_with_status(
                _status(code_pb2.RESOURCE_EXHAUSTED, "too many calls", "RATE_LIMITED", limit="5")
            )
        return pb.GetSubjectResponse(subject=pb.Subject(name=f"subjects/{token}"))


def _serve(credentials: grpc.ServerCredentials | None = None) -> Iterator[int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_SubjectServiceServicer_to_server(Echo(), server)
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        yield port
    finally:
        server.stop(grace=None)


@pytest.fixture
def echo() -> Iterator[str]:
    for port in _serve():
        yield f"127.0.0.1:{port}"


def _presented(address: str, **given: object) -> str:
    with VaultClient(address, timeout=10, **given) as client:  # type: ignore[arg-type]
        return client.get_subject("subjects/x").name.removeprefix("subjects/")


# ------------------------------------------------------------ the token
def test_every_call_carries_the_token_as_a_bearer_header(echo: str) -> None:
    assert _presented(echo, token="cvt_given") == "cvt_given"


def test_the_token_sources_in_order(
    echo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named, by_variable = tmp_path / "named.token", tmp_path / "variable.token"
    named.write_text("cvt_named\n")
    by_variable.write_text("cvt_from_file_variable\n")
    monkeypatch.setenv(TOKEN_FILE_ENV, str(by_variable))
    assert _presented(echo) == "cvt_from_file_variable"
    monkeypatch.setenv(TOKEN_ENV, "cvt_from_variable")
    assert _presented(echo) == "cvt_from_variable"
    assert _presented(echo, token_file=named) == "cvt_named"
    assert _presented(echo, token="cvt_given", token_file=named) == "cvt_given"


def test_no_token_anywhere_sends_none(echo: str) -> None:
    assert find_token() is None
    with VaultClient(echo, timeout=10) as client, pytest.raises(UnauthenticatedError) as refused:
        client.get_subject("subjects/x")
    assert refused.value.reason == "TOKEN_MISSING"


@pytest.mark.parametrize("content", [None, "", "\n"])
def test_a_token_file_that_gives_no_token_is_refused_before_any_call(
    tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "missing.token"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CredentialsError) as refused:
        VaultClient("127.0.0.1:1", token_file=path)
    assert str(path) in str(refused.value)


@pytest.mark.parametrize(
    ("given", "environment", "said"),
    [
        ({"token": ""}, {}, "token= is empty"),
        ({"token": " \n"}, {}, "token= is empty"),
        ({"token_file": ""}, {}, "token_file= is empty"),
        ({}, {TOKEN_ENV: ""}, f"the token in {TOKEN_ENV} is empty"),
        ({}, {TOKEN_ENV: "  \n"}, f"the token in {TOKEN_ENV} is empty"),
        ({}, {TOKEN_FILE_ENV: ""}, f"the file name in {TOKEN_FILE_ENV} is empty"),
    ],
)
def test_a_token_given_empty_is_refused_never_passed_over(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    given: dict[str, str],
    environment: dict[str, str],
    said: str,
) -> None:
    # A later source that would give a token: an empty one must not fall through to it.
    later = tmp_path / "later.token"
    later.write_text("cvt_later\n")
    if TOKEN_FILE_ENV not in environment:
        monkeypatch.setenv(TOKEN_FILE_ENV, str(later))
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(CredentialsError, match=said) as refused:
        VaultClient("127.0.0.1:1", **given)  # type: ignore[arg-type]
    assert "\n" not in str(refused.value)


def test_the_gates_refusals_are_friendly_exceptions(echo: str) -> None:
    client = VaultClient(echo, token="cvt_revoked", timeout=10)
    with client, pytest.raises(UnauthenticatedError) as revoked:
        client.get_subject("subjects/x")
    assert revoked.value.reason == "TOKEN_REVOKED" and revoked.value.metadata["token"]
    client = VaultClient(echo, token="cvt_auditor", timeout=10)
    with client, pytest.raises(PermissionDeniedError) as denied:
        client.get_subject("subjects/x")
    assert denied.value.reason == "ROLE_NOT_ALLOWED"
    client = VaultClient(echo, token="cvt_busy", timeout=10)
    with client, pytest.raises(RateLimitedError) as limited:
        client.get_subject("subjects/x")
    assert limited.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert limited.value.retry_after_seconds == 2.5


# ------------------------------------------------------------------ TLS
@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture
def tls_echo(tmp_path: Path, pki: Pki) -> Iterator[tuple[str, Path]]:
    """A TLS echo for localhost, and a file of the CA that signed its certificate."""
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(pki.ca.certificate)
    for port in _serve(grpc.ssl_server_credentials([(pki.server.key, pki.server.certificate)])):
        yield f"127.0.0.1:{port}", ca_file


def test_tls_roots_from_each_source_reach_the_channel(
    tls_echo: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, ca_file = tls_echo
    assert _presented(address, token="cvt_a", ca_file=ca_file) == "cvt_a"
    assert _presented(address, token="cvt_b", root_certificates=ca_file.read_bytes()) == "cvt_b"
    monkeypatch.setenv(TLS_CA_ENV, str(ca_file))
    assert _presented(address, token="cvt_c") == "cvt_c"


def test_without_the_servers_roots_no_call_is_made(
    tls_echo: tuple[str, Path], tmp_path: Path, pki: Pki
) -> None:
    address, _ = tls_echo
    stranger = tmp_path / "other-ca.pem"
    stranger.write_bytes(pki.other_ca.certificate)
    with pytest.raises(ServerUnreachableError):
        _presented(address, token="cvt_a", ca_file=stranger)
    with pytest.raises(ServerUnreachableError):
        _presented(address, token="cvt_a")  # plaintext to a TLS port


def test_a_ca_file_that_is_no_certificate_is_refused(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("hello")
    with pytest.raises(CredentialsError) as refused:
        VaultClient("127.0.0.1:1", ca_file=not_pem)
    assert str(not_pem) in str(refused.value)


@pytest.fixture
def mtls_echo(tmp_path: Path, pki: Pki) -> Iterator[tuple[str, dict[str, Path]]]:
    """An echo that asks for a client certificate its CA signed, and the files
    of that CA, the client's certificate and key, and a stranger's of another CA."""
    files = {
        "ca": pki.ca.certificate,
        "cert": pki.client.certificate,
        "key": pki.client.key,
        "stranger_cert": pki.stranger.certificate,
        "stranger_key": pki.stranger.key,
    }
    paths = {name: tmp_path / f"{name}.pem" for name in files}
    for name, pem in files.items():
        paths[name].write_bytes(pem)
    credentials = grpc.ssl_server_credentials(
        [(pki.server.key, pki.server.certificate)],
        root_certificates=pki.ca.certificate,
        require_client_auth=True,
    )
    for port in _serve(credentials):
        yield f"localhost:{port}", paths


def test_mutual_tls_shows_the_clients_certificate(mtls_echo: tuple[str, dict[str, Path]]) -> None:
    address, files = mtls_echo
    mine = {"ca_file": files["ca"], "cert_file": files["cert"], "key_file": files["key"]}
    assert _presented(address, token="cvt_mutual", **mine) == "cvt_mutual"
    with pytest.raises(ServerUnreachableError):
        _presented(address, token="cvt_a", ca_file=files["ca"])  # no certificate
    stranger = {"cert_file": files["stranger_cert"], "key_file": files["stranger_key"]}
    with pytest.raises(ServerUnreachableError):
        _presented(address, token="cvt_a", ca_file=files["ca"], **stranger)


def test_a_client_certificate_needs_its_key_and_both_must_be_pem(
    mtls_echo: tuple[str, dict[str, Path]], tmp_path: Path
) -> None:
    _, files = mtls_echo
    for given in ({"cert_file": files["cert"]}, {"key_file": files["key"]}):
        with pytest.raises(CredentialsError, match="give both, or neither"):
            VaultClient("127.0.0.1:1", **given)  # type: ignore[arg-type]
    not_pem = tmp_path / "hello.pem"
    not_pem.write_text("hello")
    with pytest.raises(CredentialsError, match=f"key file {not_pem} holds no PEM private key"):
        VaultClient("127.0.0.1:1", cert_file=files["cert"], key_file=not_pem)
    with pytest.raises(CredentialsError, match=f"certificate file {not_pem} holds no PEM"):
        VaultClient("127.0.0.1:1", cert_file=not_pem, key_file=files["key"])
    with pytest.raises(CredentialsError, match="cannot be read"):
        VaultClient("127.0.0.1:1", cert_file=tmp_path / "missing.pem", key_file=files["key"])


def test_tls_true_trusts_the_systems_roots(tls_echo: tuple[str, Path]) -> None:
    # gRPC reads the system's roots once a process: a process of its own, whose
    # system roots are the echo's CA, shows the channel trusts them.
    address, ca_file = tls_echo
    script = (
        "import sys\n"
        "from vault_client import VaultClient\n"
        "with VaultClient(sys.argv[1], token='cvt_system', tls=True, timeout=10) as client:\n"
        "    print(client.tls, client.get_subject('subjects/x').name)\n"
    )
    environment = {**os.environ, "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(ca_file)}
    for name in ENVIRONMENT:
        environment.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", script, address],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "subjects/cvt_system"]


def test_a_token_goes_in_plaintext_only_to_this_machine(
    echo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(PlaintextRefused, match="insecure=True") as refused:
        VaultClient("10.0.0.5:50051", token="cvt_a")
    assert refused.value.source == "the token given" and refused.value.target == "10.0.0.5:50051"
    for fine in ({"insecure": True}, {"tls": True}, {"token": None}):
        VaultClient("10.0.0.5:50051", **{"token": "cvt_a", **fine}).close()  # type: ignore[arg-type]
    # The echo listens on loopback; the client is told it is another machine.
    monkeypatch.setattr("vault_client.client.is_local", lambda target: target != echo)
    with pytest.raises(PlaintextRefused):
        _presented(echo, token="cvt_a")
    assert _presented(echo, token="cvt_a", insecure=True) == "cvt_a"


# ------------------------------------------------------------------ CLI
def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_cli_without_a_token_says_how_to_get_one(
    echo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(capsys, "--server", echo, "subject", "show", "subjects/x")
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    # Where it looked, the demo's file by its place in the data directory.
    demo = tmp_path / "vault-data" / "tokens" / "privacy_officer.token"
    assert "no token: none in --token-file, $CONSENT_VAULT_TOKEN or " in err
    assert f"nor the demo's {demo};" in err
    assert "pass --token-file or set CONSENT_VAULT_TOKEN" in err
    assert "consent-vault tokens create" in err and "TOKEN_MISSING" in err


def test_the_cli_takes_the_demos_privacy_officer_token(
    echo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = tmp_path / "vault-data" / "tokens"  # the data directory's default, from here
    tokens.mkdir(parents=True)
    (tokens / "privacy_officer.token").write_text("cvt_demo_officer\n")
    (tokens / "admin.token").write_text("cvt_demo_admin\n")
    code, out, err = _cli(capsys, "--server", echo, "subject", "show", "subjects/x")
    assert code == 0, err
    assert "subjects/cvt_demo_officer" in out
    # $CONSENT_VAULT_DATA moves the data directory, and the demo's file with it.
    moved = tmp_path / "elsewhere"
    (moved / "tokens").mkdir(parents=True)
    (moved / "tokens" / "privacy_officer.token").write_text("cvt_moved\n")
    monkeypatch.setenv("CONSENT_VAULT_DATA", str(moved))
    code, out, err = _cli(capsys, "--server", echo, "subject", "show", "subjects/x")
    assert code == 0 and "subjects/cvt_moved" in out, err
    # Any token given wins over the demo's.
    monkeypatch.setenv(TOKEN_ENV, "cvt_variable")
    code, out, _ = _cli(capsys, "--server", echo, "subject", "show", "subjects/x")
    assert "subjects/cvt_variable" in out
    code, out, _ = _cli(
        capsys,
        "--server",
        echo,
        "--token-file",
        str(tokens / "admin.token"),
        "subject",
        "show",
        "subjects/x",
    )
    assert "subjects/cvt_demo_admin" in out


@pytest.mark.parametrize(
    ("option", "environment", "said"),
    [
        ((), {TOKEN_ENV: ""}, f"error: the token in {TOKEN_ENV} is empty"),
        ((), {TOKEN_ENV: "   "}, f"error: the token in {TOKEN_ENV} is empty"),
        ((), {TOKEN_FILE_ENV: ""}, f"error: the file name in {TOKEN_FILE_ENV} is empty"),
        (("--token-file", ""), {}, "error: --token-file is empty"),
        (("--token-file", " "), {}, "error: --token-file is empty"),
    ],
)
def test_the_cli_refuses_an_empty_token_rather_than_take_the_demos(
    echo: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    option: tuple[str, ...],
    environment: dict[str, str],
    said: str,
) -> None:
    tokens = tmp_path / "vault-data" / "tokens"
    tokens.mkdir(parents=True)
    (tokens / "privacy_officer.token").write_text("cvt_demo_officer\n")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    code, out, err = _cli(capsys, "--server", echo, *option, "subject", "show", "subjects/x")
    assert code == 1 and out == "" and "cvt_demo_officer" not in out, out
    assert err.startswith(said) and len(err.strip().splitlines()) == 1, err


def test_the_cli_sends_the_demos_token_to_a_server_on_this_machine_only(
    echo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = tmp_path / "vault-data" / "tokens"
    tokens.mkdir(parents=True)
    (tokens / "privacy_officer.token").write_text("cvt_demo_officer\n")
    # The echo listens on loopback; the CLI is told it is another machine.
    monkeypatch.setattr("vault.cli.is_local", lambda target: target != echo)
    code, _, err = _cli(capsys, "--server", echo, "subject", "show", "subjects/x")
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "TOKEN_MISSING" in err and "pass --token-file or set CONSENT_VAULT_TOKEN" in err
    assert f"the demo's token goes only to a server on this machine, not {echo}" in err
    # A token the user names still goes anywhere.
    code, out, err = _cli(
        capsys,
        "--server",
        echo,
        "--token-file",
        str(tokens / "privacy_officer.token"),
        "subject",
        "show",
        "subjects/x",
    )
    assert code == 0 and "subjects/cvt_demo_officer" in out, err


@pytest.mark.parametrize(
    ("target", "local"),
    [
        ("127.0.0.1:50051", True),
        ("127.8.9.10:1", True),
        ("[::1]:50051", True),
        ("localhost:50051", True),
        ("LOCALHOST:1", True),
        ("dns:///localhost:50051", True),
        ("unix:/run/vault.sock", True),
        ("10.0.0.5:50051", False),
        ("[2001:db8::1]:50051", False),
        ("vault.example:50051", False),
        ("localhost.example:50051", False),
        ("0.0.0.0:50051", False),
    ],
)
def test_which_servers_are_on_this_machine(target: str, local: bool) -> None:
    assert is_local(target) is local


def test_the_cli_says_in_one_line_what_a_refusal_means(
    echo: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "cvt_revoked")
    code, _, err = _cli(capsys, "--server", echo, "subject", "show", "subjects/x")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "$CONSENT_VAULT_TOKEN (tokens/abc) was revoked: check $CONSENT_VAULT_TOKEN" in err
    assert "`consent-vault tokens create` makes a new one" in err
    monkeypatch.setenv(TOKEN_ENV, "cvt_auditor")
    code, _, err = _cli(capsys, "--server", echo, "subject", "show", "subjects/x")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "an auditor's, which may not call SubjectService/GetSubject" in err
    assert "integrator or privacy_officer" in err and "ROLE_NOT_ALLOWED" in err
    monkeypatch.setenv(TOKEN_ENV, "cvt_busy")
    code, _, err = _cli(capsys, "--server", echo, "subject", "show", "subjects/x")
    assert code == 1 and "try again in 2.5 s" in err and "RATE_LIMITED" in err


def test_the_cli_says_which_source_gave_a_refused_token_and_what_to_do(
    echo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = tmp_path / "vault-data" / "tokens"
    tokens.mkdir(parents=True)
    demo = tokens / "privacy_officer.token"
    demo.write_text("cvt_revoked\n")
    show = ("subject", "show", "subjects/x")
    code, _, err = _cli(capsys, "--server", echo, *show)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert f"the demo's token file {demo} (tokens/abc) was revoked" in err
    assert "`make run` issues the demo's tokens afresh" in err and "TOKEN_REVOKED" in err
    named = tmp_path / "mine.token"
    named.write_text("junk\n")
    code, _, err = _cli(capsys, "--server", echo, "--token-file", str(named), *show)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert f"the token file {named} (--token-file) is not a token at all" in err
    assert "check the file --token-file names" in err and "TOKEN_MALFORMED" in err
    monkeypatch.setenv(TOKEN_FILE_ENV, str(named))
    code, _, err = _cli(capsys, "--server", echo, *show)
    assert f"the token file {named} ($CONSENT_VAULT_TOKEN_FILE) is not a token" in err
    assert "check the file $CONSENT_VAULT_TOKEN_FILE names" in err


def test_the_cli_takes_the_connection_options_after_the_command_too(
    echo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    named = tmp_path / "mine.token"
    named.write_text("cvt_after\n")
    show = ("subject", "show", "subjects/x")
    code, out, err = _cli(capsys, *show, "--server", echo, "--token-file", str(named))
    assert code == 0 and "subjects/cvt_after" in out, err
    # One before the command, one after: both count.
    code, out, err = _cli(capsys, "--server", echo, *show, "--token-file", str(named))
    assert code == 0 and "subjects/cvt_after" in out, err
    # Given after, an option left out keeps the value before the command.
    monkeypatch.setenv(TOKEN_ENV, "cvt_variable")
    code, out, err = _cli(capsys, "--server", echo, *show, "--tls")
    assert code == 1 and "over TLS" in err


def test_the_cli_names_a_token_file_it_cannot_read(
    echo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.token"
    code, _, err = _cli(
        capsys, "--server", echo, "--token-file", str(missing), "subject", "show", "subjects/x"
    )
    assert code == 1 and str(missing) in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_the_cli_sends_a_token_unencrypted_to_another_machine_only_when_asked(
    echo: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("vault_client.client.is_local", lambda target: target != echo)
    monkeypatch.setenv(TOKEN_ENV, "cvt_plain")
    code, _, err = _cli(capsys, "--server", echo, "subject", "show", "subjects/x")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"$CONSENT_VAULT_TOKEN would go unencrypted to {echo}" in err
    assert "--ca-file" in err and "--tls" in err and "--insecure-plaintext" in err
    code, out, err = _cli(
        capsys, "--server", echo, "--insecure-plaintext", "subject", "show", "subjects/x"
    )
    assert code == 0 and "subjects/cvt_plain" in out, err


def test_the_cli_shows_a_client_certificate_with_cert_and_key_file(
    mtls_echo: tuple[str, dict[str, Path]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    address, files = mtls_echo
    monkeypatch.setenv(TOKEN_ENV, "cvt_mutual")
    tls = ["--server", address, "--ca-file", str(files["ca"])]
    mine = ["--cert-file", str(files["cert"]), "--key-file", str(files["key"])]
    code, out, err = _cli(capsys, *tls, *mine, "subject", "show", "subjects/x")
    assert code == 0 and "subjects/cvt_mutual" in out, err
    code, _, err = _cli(capsys, *tls, "--cert-file", str(files["cert"]), "subject", "show", "x")
    assert code == 1 and "give both, or neither" in err and len(err.strip().splitlines()) == 1


def test_the_cli_speaks_tls_with_ca_file(
    tls_echo: tuple[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, ca_file = tls_echo
    monkeypatch.setenv(TOKEN_ENV, "cvt_over_tls")
    code, out, err = _cli(
        capsys, "--server", address, "--ca-file", str(ca_file), "subject", "show", "subjects/x"
    )
    assert code == 0 and "subjects/cvt_over_tls" in out, err
    code, _, err = _cli(capsys, "--server", address, "subject", "show", "subjects/x")
    assert code == 1 and "no server answers" in err
