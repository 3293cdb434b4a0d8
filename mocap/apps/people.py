"""Pick one person of the skeleton stream for a single-person consumer (one avatar, one event stream)."""

from __future__ import annotations

from mocap.live.stream import PersonSkeleton, SkeletonFrame, TrackState


class PersonSelector:
    """Follow one person from frame to frame.

    Args:
        person: a person id to follow, or None to follow the first person seen (lowest id) until their track is
            lost, then the next one.
    """

    def __init__(self, person: int | None = None) -> None:
        self.person = None if person is None else int(person)
        self.current: int | None = self.person

    def pick(self, frame: SkeletonFrame) -> PersonSkeleton | None:
        """The followed person in ``frame`` (None when absent or their track is lost)."""
        if self.person is not None:
            p = frame.person(self.person)
            return p if p is not None and p.state != TrackState.LOST else None
        if self.current is not None:
            p = frame.person(self.current)
            if p is not None and p.state != TrackState.LOST:
                return p
            self.current = None  # gone: follow the next person
        alive = sorted((p for p in frame.people if p.state != TrackState.LOST), key=lambda p: p.person_id)
        if not alive:
            return None
        self.current = alive[0].person_id
        return alive[0]
