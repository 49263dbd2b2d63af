"""oned.conf's VM_MAD and IM_MAD sections (the guide's 3.2.4 and 5.2.3): the samples load
as written, -t and -w are read, defaults apply without a section, bad values are refused
naming the file, the section and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import ConfigError
from ansible_collections.onekit.cloud.plugins.module_utils.drivers import mads
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import (
    InstanceConfig,
    parse_config,
    render_config,
)

WHERE = Path("/srv/onekit/etc/oned.conf")

# oned.conf 4.6's samples, as the guide's driver chapters print them
GUIDE = """
VM_MAD = [
    name       = "kvm",
    executable = "one_vmm_exec",
    arguments  = "-t 15 -r 0 kvm",
    default    = "vmm_exec/vmm_exec_kvm.conf",
    type       = "kvm" ]

IM_MAD = [
      name       = "collectd",
      executable = "collectd",
      arguments  = "-p 4124 -f 5 -t 50 -i 20" ]

IM_MAD = [
      name       = "kvm",
      executable = "one_im_ssh",
      arguments  = "-r 3 -t 15 kvm" ]

VM_MAD = [
    name       = "ec2",
    executable = "one_vmm_ec2",
    arguments  = "-t 4 -r 0",
    type       = "xml" ]
"""


def test_the_guides_sections_load_as_written():
    config = parse_config(GUIDE, WHERE)
    assert config.vm_mads["kvm"] == mads.MadConfig("kvm", "one_vmm_exec", "-t 15 -r 0 kvm", 15)
    assert config.vm_mads["ec2"].threads == 4  # keyed by driver name
    assert config.im_mads["collectd"].threads == 50  # its -p is a port, not a flag
    assert config.im_mads["kvm"].threads == 15
    assert parse_config(render_config(config), WHERE) == config


# the guide's chapter 5 (Amazon EC2 Driver): the EC2 sections, as oned.conf 4.6 has them
GUIDE_EC2 = """
IM_MAD = [ name = "ec2", executable = "one_im_sh", arguments = "-c -t 1 -r 0 ec2" ]
VM_MAD = [ name = "ec2", executable = "one_vmm_sh", arguments = "-t 15 -r 0 ec2", type = "xml" ]
"""


def test_the_guides_ec2_sections_load_as_written():
    config = parse_config(GUIDE_EC2, WHERE)
    assert config.im_mads["ec2"].threads == 1  # -c is accepted
    assert config.vm_mads["ec2"].threads == 15
    assert parse_config(render_config(config), WHERE) == config


def test_defaults_without_a_section():
    config = parse_config("", WHERE)
    assert config.vm_mads == {} and config.im_mads == {}
    assert mads.MadConfig("kvm").threads == 15 and mads.MadConfig("kvm").timeout == 15
    assert parse_config(render_config(InstanceConfig()), WHERE) == InstanceConfig()


@pytest.mark.parametrize(
    ("arguments", "threads", "timeout"),
    [("-t 1 kvm", 1, 15), ("-t30 -w5", 30, 5), ("-w 120 -t 256 -p -s sh -l save kvm", 256, 120)],
)
def test_threads_and_timeout(arguments, threads, timeout):
    assert mads.parse_arguments(arguments, "L") == (threads, timeout)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('VM_MAD = [ name = "kvm", arguments = "-t 0 kvm" ]', "-t takes the number of threads"),
        ('VM_MAD = [ name = "kvm", arguments = "-t 257" ]', "from 1 to 256, got '257'"),
        ('VM_MAD = [ name = "kvm", arguments = "-t" ]', "got nothing"),
        ('IM_MAD = [ name = "kvm", arguments = "-t 15 -w 0" ]', 'IM_MAD "kvm": -w takes'),
        ('VM_MAD = [ name = "kvm", arguments = "-q" ]', "unknown driver flag '-q'"),
        ('VM_MAD = [ name = "kvm", arguments = "-t \'15" ]', "cannot split arguments"),
        ('VM_MAD = [ executable = "one_vmm_exec" ]', "VM_MAD #1 has no name"),
        ('VM_MAD = "kvm"', "VM_MAD must be a vector"),
        ('VM_MAD = [ name = "kvm" ]\nVM_MAD = [ name = "kvm" ]', 'VM_MAD "kvm" is given twice'),
    ],
)
def test_bad_sections_are_refused_with_the_fix(text, message):
    with pytest.raises(ConfigError) as err:
        parse_config(text, WHERE)
    assert str(WHERE) in str(err.value)
    assert message in str(err.value)
