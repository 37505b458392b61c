"""A local cluster's shape is checked before anything is made: names become interface names
(15 bytes at most), the subnet a /24 of the private ranges."""

from __future__ import annotations

import pytest

from nbship.cluster.local import LocalCluster
from nbship.errors import NbshipError


@pytest.mark.parametrize(
    ("shape", "said"),
    [
        ({"name": "much-too-long"}, "cluster name 'much-too-long'"),
        ({"name": "Caps"}, "cluster name 'Caps'"),
        ({"name": ""}, "cluster name ''"),
        ({"size": 0}, "cluster size 0"),
        ({"size": 10}, "cluster size 10"),
        ({"subnet": "8.8.8"}, "cluster subnet '8.8.8'"),
        ({"subnet": "10.213.0.0/24"}, "cluster subnet '10.213.0.0/24'"),
    ],
)
def test_a_bad_shape_is_refused_naming_what_is_wrong(shape: dict[str, object], said: str) -> None:
    with pytest.raises(NbshipError, match=said.replace(".", r"\.")):
        LocalCluster(**shape)  # type: ignore[arg-type]


def test_nodes_addresses_and_names_fit_the_kernel_limits() -> None:
    cluster = LocalCluster(name="nbship12", size=9, subnet="10.213.0")
    assert [node.address for node in cluster.nodes][:2] == ["10.213.0.11", "10.213.0.12"]
    assert cluster.manager.role == "manager" and cluster.nodes[1].role == "worker"
    longest = f"{cluster.nodes[-1].name}p"  # the veth peer before it is renamed eth0
    assert len(longest) <= 15 and len(cluster.bridge) <= 15
    assert len(str(cluster.manager.run_dir / "docker.sock")) < 108
