"""Keys held by an ssh-agent (``SSH_AUTH_SOCK``): a token or gpg-agent signs, Accord never sees the private key.

The agent protocol's sign request (draft-miller-ssh-agent, SSH_AGENTC_SIGN_REQUEST)
goes through paramiko's agent client (``paramiko.Agent``, ``AgentKey.sign_ssh_data``),
not hand-written socket code. For an Ed25519 key the agent answers an SSH
signature blob, ``string "ssh-ed25519" || string signature``, whose signature
is the plain RFC 8032 Ed25519 signature of the bytes sent: exactly what a
signed note or a cosignature carries.
"""

from __future__ import annotations

import os
import struct

from ledger.encoding import decode_base64
from ledger.errors import KeyFileError, MalformedError
from ledger.keys import ED25519, PUBLIC_KEY_SIZE, Signer, VerifierKey

SSH_ED25519 = b"ssh-ed25519"


def _ssh_string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def _ssh_strings(blob: bytes, count: int, what: str) -> list[bytes]:
    values, offset = [], 0
    for _ in range(count):
        if offset + 4 > len(blob):
            raise KeyFileError("ssh-agent", f"{what} is truncated")
        (length,) = struct.unpack(">I", blob[offset : offset + 4])
        values.append(blob[offset + 4 : offset + 4 + length])
        offset += 4 + length
    if offset != len(blob):
        raise KeyFileError("ssh-agent", f"{what} has {len(blob) - offset} bytes after its fields")
    return values


def public_key_of_openssh_line(line: str, component: str = "--ssh-agent") -> bytes:
    """The 32-byte Ed25519 public key in an OpenSSH public key line, ``ssh-ed25519 <base64> [comment]``."""
    fields = line.split()
    if len(fields) < 2 or fields[0] != "ssh-ed25519":
        raise MalformedError(component, "want an OpenSSH Ed25519 public key line: ssh-ed25519 AAAA... (id_ed25519.pub)")
    kind, public = _ssh_strings(decode_base64(fields[1], component, "key"), 2, "public key")
    if kind != SSH_ED25519 or len(public) != PUBLIC_KEY_SIZE:
        raise MalformedError(component, f"want an ssh-ed25519 key of {PUBLIC_KEY_SIZE} bytes")
    return public


def agent_signer(key: VerifierKey) -> Signer:
    """A signer that asks the ssh-agent at ``SSH_AUTH_SOCK`` to sign with ``key``'s public key."""
    import paramiko

    socket_path = os.environ.get("SSH_AUTH_SOCK")
    if not socket_path:
        raise KeyFileError("ssh-agent", f"SSH_AUTH_SOCK is not set: start ssh-agent and ssh-add the key {key.label}")
    if not os.path.exists(socket_path):
        raise KeyFileError("ssh-agent", f"no agent at SSH_AUTH_SOCK={socket_path}")
    blob = _ssh_string(SSH_ED25519) + _ssh_string(key.public)
    agent = paramiko.Agent()
    held = next((candidate for candidate in agent.get_keys() if candidate.asbytes() == blob), None)
    if held is None:
        agent.close()
        raise KeyFileError("ssh-agent", f"the agent at SSH_AUTH_SOCK={socket_path} does not hold the key {key.label}: ssh-add it")
    expected = VerifierKey(key.name, ED25519, key.public)

    def sign(message: bytes) -> bytes:
        try:
            answer = bytes(held.sign_ssh_data(message))
        except paramiko.SSHException as error:
            raise KeyFileError("ssh-agent", f"the agent refused to sign with {key.label}: {error}") from None
        kind, signature = _ssh_strings(answer, 2, "the agent's signature")
        if kind != SSH_ED25519 or not expected.verify(message, signature):
            raise KeyFileError("ssh-agent", f"the agent's signature does not verify under {key.label}")
        return signature

    return Signer.held_elsewhere(key.name, key.public, sign, key.sig_type)
