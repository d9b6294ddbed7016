"""Going live: ``start_rtmp``, ``update_rtmp``, ``stop_rtmp`` (one egress, many URLs).

Serialised per room and idempotent: a retried start with the same destinations answers the
egress already running; a retried stop answers that it is stopped. Every custom URL passes the
destination policy (:mod:`backend.destinations`) before anything is started. The requests and
answers are the contract's (:mod:`spaces_contract.outputs`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backend.destinations import check_destination
from backend.usage import EgressKind, note_egress
from spaces_common.lazy import lazy_module
from spaces_contract.codec import ApiError
from spaces_contract.common import Done
from spaces_contract.outputs import (
    MAX_DESTINATIONS,
    Destination,
    DestinationsAnswer,
    DestinationSpec,
    LiveAnswer,
    StartRtmpRequest,
    StopRtmpRequest,
    UpdateRtmpRequest,
)
from spaces_contract.platforms import platform

if TYPE_CHECKING:
    from livekit import api

    from backend.service import LiveKitBackendService, Principal
else:
    api = lazy_module("livekit.api")


async def parse_destinations(
    svc: LiveKitBackendService,
    raw: tuple[Destination, ...],
    where: str,
    taken: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """Name → full URL for requested destinations, each checked against the policy.

    Platform URLs come from the platform table (the operator's configuration), so only custom
    URLs go through the address policy.
    """
    result: dict[str, str] = {}
    for index, item in enumerate(raw):
        here = f"{where}[{index}]"
        if isinstance(item, str):
            item = DestinationSpec(url=item)
        chosen = platform(item.platform or "")
        if chosen is not None and item.url is None:
            if not item.stream_key:
                raise ApiError(400, "invalid_spec", f"'{here}': {chosen.id} needs a streamKey")
            url = svc.platform_url(chosen.id, item.stream_key)
            name = item.name or chosen.id
        else:
            if item.url is None:
                raise ApiError(400, "missing_field", f"'{here}.url' is required")
            await check_destination(item.url, here, svc.allowed_hosts)
            url = item.url
            name = item.name or f"custom-{index + 1}"
        base, number = name, 2
        while name in result or name in taken:
            name = f"{base}-{number}"
            number += 1
        result[name] = url
    return result


def _status_answer(names: dict[str, str]) -> tuple[str, ...]:
    return tuple(names)


async def start_rtmp(
    svc: LiveKitBackendService,
    principal: Principal,
    req: StartRtmpRequest,
    checked: dict[str, str] | None = None,
) -> LiveAnswer:
    """Go live: one room composite egress streaming to every destination."""
    svc.hosted_stream(principal, req.room_name)
    if not req.destinations:
        raise ApiError(400, "invalid_spec", "'destinations' must be a non-empty list")
    destinations = (
        checked
        if checked is not None
        else await parse_destinations(svc, req.destinations, "destinations")
    )
    async with svc.room_lock(req.room_name):
        stream = svc.hosted_stream(principal, req.room_name)
        svc.require_active(stream)
        if stream.rtmp_egress_id:
            if sorted(stream.destinations.values()) == sorted(destinations.values()):
                return LiveAnswer(stream.rtmp_egress_id, _status_answer(stream.destinations))
            raise ApiError(409, "already_live", "this room is already live; use update_rtmp")
        info = await svc.start_egress(
            req.room_name,
            svc.egress.start_room_composite_egress(
                api.RoomCompositeEgressRequest(
                    room_name=req.room_name,
                    layout=req.layout.value,
                    stream_outputs=[
                        api.StreamOutput(
                            protocol=api.StreamProtocol.RTMP, urls=list(destinations.values())
                        )
                    ],
                )
            ),
        )
        stream.rtmp_egress_id = info.egress_id
        note_egress(stream, info, EgressKind.RTMP)
        stream.destinations = destinations
        stream.destination_status = {n: {"status": "starting", "error": ""} for n in destinations}
        svc.store.save_stream(stream)
        return LiveAnswer(info.egress_id, _status_answer(destinations))


async def update_rtmp(
    svc: LiveKitBackendService, principal: Principal, req: UpdateRtmpRequest
) -> DestinationsAnswer:
    """Add or remove destinations while live; the others are never interrupted."""
    svc.hosted_stream(principal, req.room_name)
    if not req.add and not req.remove:
        raise ApiError(400, "missing_field", "give 'add' and/or 'remove'")
    async with svc.room_lock(req.room_name):
        stream = svc.hosted_stream(principal, req.room_name)
        if not stream.rtmp_egress_id:
            raise ApiError(409, "not_live", "this room is not live; use start_rtmp")
        unknown = [n for n in req.remove if n not in stream.destinations]
        if unknown:
            raise ApiError(404, "not_found", f"no destination named {', '.join(unknown)}")
        keep = frozenset(n for n in stream.destinations if n not in req.remove)
        add = await parse_destinations(svc, req.add, "add", keep)
        if len(keep) + len(add) > MAX_DESTINATIONS:
            raise ApiError(400, "invalid_spec", f"at most {MAX_DESTINATIONS} destinations")
        current = set(stream.destinations.values())
        add = {n: u for n, u in add.items() if u not in current}  # already live: a retry
        await svc.livekit(
            svc.egress.update_stream(
                api.UpdateStreamRequest(
                    egress_id=stream.rtmp_egress_id,
                    add_output_urls=list(add.values()),
                    remove_output_urls=[stream.destinations[n] for n in req.remove],
                )
            )
        )
        for name in req.remove:
            del stream.destinations[name]
            stream.destination_status[name] = {"status": "stopped", "error": ""}
        stream.destinations.update(add)
        stream.destination_status.update({n: {"status": "starting", "error": ""} for n in add})
        svc.store.save_stream(stream)
        return DestinationsAnswer(_status_answer(stream.destinations))


async def stop_rtmp(svc: LiveKitBackendService, principal: Principal, req: StopRtmpRequest) -> Done:
    """End the live stream to every destination (a retry answers the same)."""
    svc.hosted_stream(principal, req.room_name)
    async with svc.room_lock(req.room_name):
        stream = svc.hosted_stream(principal, req.room_name)
        if not stream.rtmp_egress_id:
            if stream.destination_status:
                return Done()  # already stopped: a retry
            raise ApiError(409, "not_live", "this room is not live")
        try:
            info = await svc.livekit(
                svc.egress.stop_egress(api.StopEgressRequest(egress_id=stream.rtmp_egress_id))
            )
            note_egress(stream, info, EgressKind.RTMP, svc.now_ms())
        except api.TwirpError as error:
            if error.status not in (404, 412):
                raise
        stream.rtmp_egress_id = ""
        stream.destination_status = {
            n: {"status": "stopped", "error": ""} for n in stream.destinations
        }
        stream.destinations = {}
        svc.store.save_stream(stream)
        return Done()
