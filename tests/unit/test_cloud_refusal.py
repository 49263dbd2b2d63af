"""drivers.refusal: which VMs a cloud host's driver could never run, read from the VM
alone (what the scheduler leaves such hosts out for)."""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils import drivers

REGION = {"NAME": "us-east-1", "VM_MAD": "ec2"}
PARTNER = {"NAME": "partner", "VM_MAD": "onekit"}
LIBVIRT = {"NAME": "kvm1", "VM_MAD": "kvm"}


def vm(template: dict | None = None, user_template: dict | None = None) -> dict:
    return {"TEMPLATE": {"CPU": "1", "MEMORY": "256", **(template or {})},
            "USER_TEMPLATE": user_template or {}}  # fmt: skip


def test_a_libvirt_host_runs_any_vm():
    assert drivers.refusal(LIBVIRT, vm({"DISK": {"IMAGE": "x"}})) is None


def test_a_region_needs_an_ec2_section_for_it():
    assert "no EC2 section for host us-east-1" in drivers.refusal(REGION, vm())
    assert drivers.refusal(REGION, vm(user_template={"EC2": {"AMI": "ami-1"}})) is None
    two = [{"AMI": "ami-1", "HOST": "eu-west-1"}, {"AMI": "ami-2", "HOST": "US-EAST-1"}]
    assert drivers.refusal(REGION, vm(user_template={"EC2": two})) is None
    elsewhere = [{"AMI": "ami-1", "HOST": "eu-west-1"}, {"AMI": "ami-2", "HOST": "ap-1"}]
    assert 'none has HOST = "us-east-1"' in drivers.refusal(
        REGION, vm(user_template={"EC2": elsewhere})
    )


def test_a_partner_needs_a_partner_template_for_a_vm_with_disks_or_nics():
    assert drivers.refusal(PARTNER, vm()) is None  # diskless: goes with its own size
    why = drivers.refusal(PARTNER, vm({"DISK": {"IMAGE": "x"}, "NIC": {"NETWORK": "n"}}))
    assert why.startswith("has DISK and NIC, which name this cloud's images and networks")
    with_template = vm({"DISK": {"IMAGE": "x"}, "PARTNER": {"TEMPLATE": "small"}})
    assert drivers.refusal(PARTNER, with_template) is None
