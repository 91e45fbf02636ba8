"""ErasureService and ConnectorService: thin translators over the coordinator and registry.

The coordinator writes the erasure calls' audit events; the registry is no
part of the core, so the connector views commit theirs here, before they answer.
"""

from __future__ import annotations

from collections.abc import Iterator

from vault.core import paging, rules
from vault.core.audit.events import Operation
from vault.core.errors import InvalidArgument, NotFound, Reason
from vault.server import convert
from vault.server.actor import actor_of
from vault.server.context import VaultServices
from vault.server.registration import CallContext
from vault.server.subjects import call_ended
from vault.v1 import vault_pb2 as pb


class ErasureService:
    # Reads of one item from local storage: served on the event loop (see
    # registration). Pages can hold a thousand items, so lists take the pool.
    INLINE = frozenset({"GetErasureRequest"})

    def __init__(self, services: VaultServices) -> None:
        self.coordinator = services.coordinator

    def GetErasureRequest(
        self, request: pb.GetErasureRequestRequest, context: CallContext
    ) -> pb.GetErasureRequestResponse:
        view = self.coordinator.get(
            actor_of(context), convert.erasure_request_id(request.name, "name")
        )
        return pb.GetErasureRequestResponse(request=convert.erasure_request_message(view))

    def ListErasureRequests(
        self, request: pb.ListErasureRequestsRequest, context: CallContext
    ) -> pb.ListErasureRequestsResponse:
        state = None
        if request.state != pb.ERASURE_REQUEST_STATE_UNSPECIFIED:
            state = convert.REQUEST_STATE_FROM_PB.get(request.state)
            if state is None:
                raise InvalidArgument("state", "must be a known ErasureRequestState")
        views, token = self.coordinator.list_requests(
            actor_of(context), request.page_size, request.page_token, state
        )
        return pb.ListErasureRequestsResponse(
            requests=[convert.erasure_request_message(v) for v in views], next_page_token=token
        )

    def WatchErasureRequest(
        self, request: pb.WatchErasureRequestRequest, context: CallContext
    ) -> Iterator[pb.WatchErasureRequestResponse]:
        request_id = convert.erasure_request_id(request.name, "name")
        for view in self.coordinator.watch(actor_of(context), request_id, stop=call_ended(context)):
            yield pb.WatchErasureRequestResponse(request=convert.erasure_request_message(view))

    def RetryErasureRequest(
        self, request: pb.RetryErasureRequestRequest, context: CallContext
    ) -> pb.RetryErasureRequestResponse:
        view = self.coordinator.retry(
            actor_of(context), convert.erasure_request_id(request.name, "name"), request.request_id
        )
        return pb.RetryErasureRequestResponse(request=convert.erasure_request_message(view))

    def ConfirmManualAction(
        self, request: pb.ConfirmManualActionRequest, context: CallContext
    ) -> pb.ConfirmManualActionResponse:
        request_id, action_id = convert.manual_action_id(request.name, "name")
        view = self.coordinator.confirm_manual_action(
            actor_of(context), request_id, action_id, request.confirmed_by, request.request_id
        )
        return pb.ConfirmManualActionResponse(request=convert.erasure_request_message(view))

    def DecideMatch(
        self, request: pb.DecideMatchRequest, context: CallContext
    ) -> pb.DecideMatchResponse:
        request_id, system = convert.erasure_step_id(request.name, "name")
        view = self.coordinator.decide_match(
            actor_of(context),
            request_id,
            system,
            convert.match_decision(request.decision, "decision"),
            request.decided_by,
            request.request_id,
        )
        return pb.DecideMatchResponse(request=convert.erasure_request_message(view))


class ConnectorNotFound(NotFound):
    reason = Reason.CONNECTOR_NOT_FOUND


class ConnectorService:
    def __init__(self, services: VaultServices) -> None:
        self.registry = services.registry
        self.audit = services.vault.audit

    def ListConnectors(
        self, request: pb.ListConnectorsRequest, context: CallContext
    ) -> pb.ListConnectorsResponse:
        limit = rules.page_size(request.page_size)
        last = paging.read(request.page_token, {"list": "connectors"}, (str,))
        after = last[0] if last else ""
        names = [name for name in sorted(self.registry.installed) if name > after]
        connectors = []
        for name in names[:limit]:
            installed = self.registry.installed[name]
            health = (
                self.registry.health(name) if request.check_health and installed.enabled else None
            )
            connectors.append(convert.connector_message(installed, health))
        more = len(names) > limit
        token = paging.token({"list": "connectors"}, [names[limit - 1]]) if more else ""
        listed = f"{len(connectors)} connector{'' if len(connectors) == 1 else 's'}"
        detail = listed + (", their health checked" if request.check_health else "")
        self.audit.commit(
            self.audit.event(actor_of(context), Operation.LIST_CONNECTORS, detail=detail)
        )
        return pb.ListConnectorsResponse(connectors=connectors, next_page_token=token)

    def CheckConnector(
        self, request: pb.CheckConnectorRequest, context: CallContext
    ) -> pb.CheckConnectorResponse:
        # A connector is named for the system it covers: the same rule as
        # every system name, so no unbounded or invisible text is echoed back.
        name = rules.system(request.name, "name")
        installed = self.registry.get(name)
        if installed is None:
            raise ConnectorNotFound(f"no connector named {name} is installed", connector=name)
        health = self.registry.health(request.name)
        state = "healthy" if health.healthy else "not healthy"
        self.audit.commit(
            self.audit.event(
                actor_of(context), Operation.CHECK_CONNECTOR, detail=f"{name}: {state}"
            )
        )
        return pb.CheckConnectorResponse(connector=convert.connector_message(installed, health))
