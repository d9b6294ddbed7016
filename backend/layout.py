"""``update_layout``: the running egresses of a room take a new layout, without restarting.

The studio's producer switches layouts while live; the composite LiveKit egress runs on (its
outputs and recording are never restarted) and changes its composition through LiveKit's
``UpdateLayout``. Both egresses a room may have — the live stream and the cloud recording —
follow. Setting the layout a room already has is harmless, so the action is safe to retry.
The request and answer are the contract's (:mod:`spaces_contract.outputs`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spaces_common.lazy import lazy_module
from spaces_contract.outputs import LayoutAnswer, UpdateLayoutRequest

if TYPE_CHECKING:
    from livekit import api

    from backend.service import LiveKitBackendService, Principal
else:
    api = lazy_module("livekit.api")


async def update_layout(
    svc: LiveKitBackendService, principal: Principal, req: UpdateLayoutRequest
) -> LayoutAnswer:
    """Send the layout to every egress the room runs (live stream, cloud recording)."""
    svc.hosted_stream(principal, req.room_name)
    async with svc.room_lock(req.room_name):
        stream = svc.hosted_stream(principal, req.room_name)
        running: list[str] = []
        for egress_id in (stream.rtmp_egress_id, stream.recording_egress_id):
            if not egress_id:
                continue
            try:
                await svc.livekit(
                    svc.egress.update_layout(
                        api.UpdateLayoutRequest(egress_id=egress_id, layout=req.layout.value)
                    )
                )
            except api.TwirpError as error:
                if error.status not in (404, 412):
                    raise
                continue  # it ended by itself (failed, room closed): nothing to change there
            running.append(egress_id)
        if stream.recording_egress_id:
            stream.recording = {**stream.recording, "layout": req.layout.value}
        svc.store.save_stream(stream)
        return LayoutAnswer(req.layout, tuple(running))
