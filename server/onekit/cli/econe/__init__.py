"""The guide's ``econe-*`` commands (7.5 "EC2 User Guide"), EC2 Query clients on boto3.

One module per group of commands (images, instances, volumes, snapshots, addresses,
keypairs, tags); ``base`` holds what they share (options, credentials, the client, errors,
tables) and ``upload`` econe-upload's signed multipart request. Each command is a
``base.Command``, installed as a console script of its name (pyproject.toml);
``python -m onekit.cli.econe <name> ...`` runs one without the script.
"""

from __future__ import annotations

from onekit.cli.econe import addresses, images, instances, keypairs, snapshots, tags, volumes
from onekit.cli.econe.base import Command

COMMANDS: dict[str, Command] = {
    command.name: command
    for command in (
        images.upload,
        images.register,
        images.describe_images,
        instances.run_instances,
        instances.describe_instances,
        instances.terminate_instances,
        instances.reboot_instances,
        instances.start_instances,
        instances.stop_instances,
        volumes.create_volume,
        volumes.delete_volume,
        volumes.describe_volumes,
        volumes.attach_volume,
        volumes.detach_volume,
        snapshots.create_snapshot,
        snapshots.delete_snapshot,
        snapshots.describe_snapshots,
        addresses.allocate_address,
        addresses.release_address,
        addresses.describe_addresses,
        addresses.associate_address,
        addresses.disassociate_address,
        keypairs.create_keypair,
        keypairs.delete_keypair,
        keypairs.describe_keypairs,
        tags.create_tags,
        tags.describe_tags,
        tags.delete_tags,
    )
}
