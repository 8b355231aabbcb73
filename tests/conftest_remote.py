"""Fixtures for the remote-device tests: the virtual phone, Pi and serial board.

Imported by the test_transport_* / test_remote_* modules (``from conftest_remote import ...``);
each fixture skips with the reason when a piece is missing (run scripts/setup-test-endpoints.sh).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from edgebench.testing.remote_devices import (VirtualDevice, find_rootfs, virtual_board, virtual_pi,
                                              virtual_pixel)

IS_ROOT = os.geteuid() == 0
SETUP = "run scripts/setup-test-endpoints.sh"


def need(*commands: str) -> None:
    for command in commands:
        if shutil.which(command) is None and not os.access(command, os.X_OK):
            pytest.skip(f"{command} is not installed ({SETUP})")


def need_rootfs() -> Path:
    if not IS_ROOT:
        pytest.skip("the arm64 stand-ins need root (chroot, namespaces)")
    rootfs = find_rootfs()
    if rootfs is None:
        pytest.skip(f"no arm64 rootfs built ({SETUP})")
    return rootfs


@pytest.fixture
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch folder with a plain name (endpoints splice it into shell and socat addresses)."""
    return tmp_path_factory.mktemp("remote")


@pytest.fixture
def phone(workdir: Path) -> Iterator[VirtualDevice]:
    """The virtual Pixel (host shell) behind a private adb server."""
    need("adb")
    with virtual_pixel(workdir) as device:
        yield device


@pytest.fixture
def pi(workdir: Path) -> Iterator[VirtualDevice]:
    """The Raspberry Pi stand-in: sshd in its own netns, sessions chrooted into the arm64 rootfs."""
    need("ssh", "sftp", "ssh-keygen", "/usr/sbin/sshd", "ip", "unshare")
    rootfs = need_rootfs()
    with virtual_pi(workdir, rootfs) as device:
        yield device


@pytest.fixture
def board(workdir: Path) -> Iterator[VirtualDevice]:
    """A serial console (socat pty pair, host shell)."""
    need("socat")
    with virtual_board(workdir) as device:
        yield device
