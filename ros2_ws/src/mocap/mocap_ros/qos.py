"""QoS profiles of the mocap topics (one place, so publishers and subscribers agree).

- keypoints and camera info: the sensor-data profile (best effort, volatile) with a queue of 50 (a busy fusion
  node catches up instead of losing frames; best effort never blocks a camera on a slow reader);
- skeletons, markers, TF: reliable, keep last 10;
- the newest-skeleton topic for control consumers: best effort, keep last 1;
- the skeleton description, the replay start and static TF: reliable, transient local (a late subscriber gets
  them).
"""

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

KEYPOINTS = QoSProfile(depth=50, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT,
                       durability=DurabilityPolicy.VOLATILE)
SKELETONS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATEST = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
DESCRIPTION = QoSProfile(depth=16, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
