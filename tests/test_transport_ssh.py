"""ssh: the real OpenSSH client against the Raspberry Pi stand-in (sshd in a netns, arm64 userland)."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from edgebench.devices import DeviceProfile
from edgebench.errors import DeviceError, DeviceUnreachable
from edgebench.transports.ssh import SshTransport, parse_linux_info, sftp_quote

from conftest_remote import pi, workdir  # noqa: F401  (fixtures)

# /proc/cpuinfo of a Raspberry Pi 4 Model B (64-bit Raspberry Pi OS, kernel 6.1)
RPI4_CORE = """processor\t: {n}
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd08
CPU revision\t: 3

"""
RPI4_CPUINFO = "".join(RPI4_CORE.format(n=n) for n in range(4)) + """Hardware\t: BCM2835
Revision\t: d03114
Serial\t\t: 10000000a1b2c3d4
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""


def ssh_transport(pi_device, name: str = "rpi-test", **override) -> SshTransport:  # type: ignore[no-untyped-def]
    return SshTransport(DeviceProfile(name=name, transport="ssh", options={**pi_device.values, **override}))


def test_the_pi_is_a_separate_host_running_aarch64(pi):
    assert not pi.values["host"].startswith("127.")  # its own network namespace, reached over a veth
    assert pi.endpoint.ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    t = ssh_transport(pi)
    out = t.run(["python3", "-c", "import platform, numpy, onnxruntime, ai_edge_litert; "
                 "print(platform.machine(), onnxruntime.__version__)"], timeout=120)
    assert out.returncode == 0 and out.stdout.split() == ["aarch64", "1.32.0"]
    assert t.run(["touch", "/usr/edgebench-was-here"], timeout=30).returncode != 0  # read-only userland
    t.close()


def test_wrong_host_key_is_refused_in_one_line(pi, tmp_path):
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    known = tmp_path / "known_hosts"
    known.write_text(f"{pi.values['host']} {' '.join(other.with_suffix('.pub').read_text().split()[:2])}\n")
    t = ssh_transport(pi, known_hosts=str(known))
    with pytest.raises(DeviceUnreachable, match=r"^device 'rpi-test' \(ssh root@.*\) is unreachable: .*HOST IDENTIFICATION HAS CHANGED|Host key verification failed"):
        t.open()


def test_unknown_host_is_refused_when_checking_is_strict(pi, tmp_path):
    t = ssh_transport(pi, known_hosts=str(tmp_path / "empty_known_hosts"))
    with pytest.raises(DeviceUnreachable, match="Host key verification failed"):
        t.open()


def test_refused_key_is_unreachable_not_retried(pi, tmp_path):
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    t = ssh_transport(pi, key=str(stranger))
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable, match=r"device 'rpi-test'.*Permission denied \(publickey\)"):
        t.open()
    assert time.monotonic() - started < 10


def test_board_killed_mid_run_is_a_device_error_naming_the_profile(pi):
    t = ssh_transport(pi, connect_timeout=3)
    t.open()
    caught: list[Exception] = []

    def run() -> None:
        try:
            t.run(["sleep", "30"], timeout=60)
        except Exception as exc:  # inspected below
            caught.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    time.sleep(1.0)
    pi.endpoint.kill()  # sshd and every session die at once (PID namespace)
    runner.join(60)
    assert len(caught) == 1 and isinstance(caught[0], DeviceError), caught
    assert "device 'rpi-test'" in str(caught[0]) and "\n" not in str(caught[0])
    t.close()


def test_without_multiplexing_every_call_is_its_own_connection(pi, tmp_path):
    t = ssh_transport(pi, multiplex=False)
    local = tmp_path / "m.bin"
    local.write_bytes(b"abc")
    work = t.make_workdir()
    t.push(local, f"{work}/m b")
    assert t.run(["cat", f"{work}/m b"], timeout=30).stdout == "abc"
    t.remove(work)
    t.close()


def test_sftp_quote_keeps_names_literal():
    assert sftp_quote('a "b" \\c *?[x]') == '"a \\"b\\" \\\\c *?[x]"'
    with pytest.raises(ValueError):
        sftp_quote("line\nbreak")


def test_linux_info_of_a_raspberry_pi():
    text = "@@EB-SPLIT@@".join([
        "Raspberry Pi 4 Model B Rev 1.4\x00\n", RPI4_CPUINFO, "Linux 6.1.0-rpi7-rpi-v8 aarch64",
        "MemTotal:        3884376 kB", "4", "Debian GNU/Linux 12 (bookworm)", "1800000\n1800000\n1800000\n1800000",
        "3.11.2 aarch64"])
    info = parse_linux_info(text)
    assert info["model"] == "Raspberry Pi 4 Model B Rev 1.4" and info["cpu_model"] == "BCM2835"
    assert info["cpu_cores"] == "4x Cortex-A72"
    assert (info["machine"], info["cores_logical"], info["cpu_max_mhz"]) == ("aarch64", 4, [1800])
    assert info["memory_bytes"] == 3884376 * 1024 and info["python"] == "3.11.2"
    # no device tree (an x86 box): the model comes from nowhere rather than from 'model : 17'
    assert "model" not in parse_linux_info("@@EB-SPLIT@@model\t\t: 17\nmodel name\t: AMD EPYC\n")
