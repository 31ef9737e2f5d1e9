"""Wire side of the simulated mongod: one mockupdb autoresponder per member that answers like a real replica-set
member (``hello``, ``buildInfo``, ``replSetGetStatus``, ``replSetStepDown``, …) from the ``ReplicaSet`` model.

Documents follow what mongod 5.0-8.0 returns, trimmed to the fields drivers and operators read. There is no
``topologyVersion`` in ``hello``, so pymongo polls (heartbeatFrequencyMS) instead of streaming awaitable
``hello``, which mockupdb cannot serve. Authentication is off, as on a mongod without ``--auth``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from typing import Any

from bson import Int64, ObjectId, Timestamp

from lab.mongo_replset import Member, ReplicaSet, SimError, State, wire_version

_CLIENT_FIELDS = re.compile(
    r"^\$|^(lsid|txnNumber|autocommit|startTransaction|writeConcern|readConcern|comment|maxTimeMS|apiVersion|apiStrict|apiDeprecationErrors)$"
)


def _date(wall: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(wall, tz=dt.UTC)


# Commands a member answers (lower-case name → method ``_<name>``); anything else is CommandNotFound.
COMMANDS = frozenset(
    {"hello", "ismaster", "buildinfo", "replsetgetstatus", "replsetgetconfig", "serverstatus", "getparameter",
     "setfeaturecompatibilityversion", "replsetstepdown", "replsetfreeze", "shutdown", "ping", "endsessions",
     "killcursors", "saslstart", "insert", "find"}
)  # fmt: skip


def _optime(wall: float, term: int) -> dict[str, Any]:
    if wall <= 0:
        return {"ts": Timestamp(0, 0), "t": Int64(-1)}
    return {"ts": Timestamp(int(wall), 1 + int((wall % 1) * 1000)), "t": Int64(term)}


def _err(code: int, code_name: str, message: str) -> dict[str, Any]:
    return {"ok": 0.0, "errmsg": message, "code": code, "codeName": code_name}


class WireHandler:
    """Answers every request sent to one member. ``on_event(kind, member)`` reports 'shutdown' and 'changed'."""

    def __init__(self, rs: ReplicaSet, member: Member, on_event: Callable[[str, Member], None]):
        self.rs, self.member, self.on_event = rs, member, on_event
        self.connections = 0

    def handle(self, request: Any) -> bool:
        """mockupdb autoresponder: always answers (returns True), never raises into mockupdb's thread."""
        try:
            doc = dict(request.doc)
        except (AssertionError, AttributeError):
            return request.hangup()
        doc = dict(doc.get("$query", doc))
        name = next(iter(doc), "")
        event = None
        with self.rs.lock:
            if not self.member.running:
                return request.hangup()  # shutting down: the socket closes under the client
            now = self.rs.tick()
            method = getattr(self, "_" + name.lower()) if name.lower() in COMMANDS else None
            try:
                reply = (
                    method(doc, now, request)
                    if method
                    else _err(59, "CommandNotFound", f"no such command: '{name}'")
                )
            except SimError as exc:
                reply = _err(exc.code, exc.code_name, str(exc))
            except Exception as exc:  # noqa: BLE001 - a simulator bug must not kill the connection thread
                reply = _err(1, "InternalError", f"simulator: {type(exc).__name__}: {exc}")
            if reply is None:
                event = "shutdown"
            elif name.lower() in ("setfeaturecompatibilityversion", "replsetstepdown", "insert"):
                event = "changed"
        if event == "shutdown":
            request.hangup()
        else:
            request.replies(reply)
        if event:
            self.on_event(event, self.member)
        return True

    # --- topology ---------------------------------------------------------------------------------------

    def _hello(self, doc: dict, now: float, request: Any, legacy: bool = False) -> dict[str, Any]:
        rs, m = self.rs, self.member
        primary = rs.primary()
        self.connections += 1
        out: dict[str, Any] = {"ismaster" if legacy else "isWritablePrimary": m.state is State.PRIMARY}
        if doc.get("helloOk"):
            out["helloOk"] = True
        out.update(
            secondary=m.state is State.SECONDARY,
            setName=rs.config.set_name,
            setVersion=1,
            hosts=[o.name for o in rs.members if o.priority > 0],
            me=m.name,
        )
        passives = [o.name for o in rs.members if o.priority == 0]  # priority 0 members are 'passives'
        if passives:
            out["passives"] = passives
        if primary:
            out["primary"] = primary.name
        if m.state is State.PRIMARY:
            out["electionId"] = ObjectId(f"7fffffff{rs.term:016x}")
        optime = rs.optime(m, now)
        out["lastWrite"] = {
            "opTime": _optime(optime, rs.term), "lastWriteDate": _date(int(optime)),
            "majorityOpTime": _optime(optime, rs.term), "majorityWriteDate": _date(int(optime)),
        }  # fmt: skip
        out.update(
            maxBsonObjectSize=16 * 1024 * 1024,
            maxMessageSizeBytes=48_000_000,
            maxWriteBatchSize=100_000,
            localTime=_date(now),
            logicalSessionTimeoutMinutes=30,
            connectionId=self.connections,
            minWireVersion=0,
            maxWireVersion=wire_version(m.version),
            readOnly=False,
            ok=1.0,
        )
        return out

    def _ismaster(self, doc: dict, now: float, request: Any) -> dict[str, Any]:
        return self._hello(doc, now, request, legacy=True)

    def _buildinfo(self, doc: dict, now: float, request: Any) -> dict[str, Any]:
        version = self.member.version
        parts = [int(p) for p in version.split(".")] + [0]
        return {
            "version": version, "gitVersion": "simulated", "versionArray": parts[:4], "modules": [],
            "allocator": "tcmalloc", "javascriptEngine": "mozjs", "bits": 64, "debug": False,
            "maxBsonObjectSize": 16 * 1024 * 1024, "storageEngines": ["devnull", "wiredTiger"], "ok": 1.0,
        }  # fmt: skip

    def _replsetgetstatus(self, doc: dict, now: float, request: Any) -> dict[str, Any]:
        rs, me = self.rs, self.member
        primary = rs.primary()
        applied = rs.optime(me, now)
        head = _optime(rs.head(now) if primary else applied, rs.term)
        out: dict[str, Any] = {
            "set": rs.config.set_name, "date": _date(now), "myState": int(me.state), "term": Int64(rs.term),
            "syncSourceHost": self._sync_source(me), "syncSourceId": self._sync_source_id(me),
            "heartbeatIntervalMillis": Int64(2000), "majorityVoteCount": len(rs.members) // 2 + 1,
            "writeMajorityCount": len(rs.members) // 2 + 1, "votingMembersCount": len(rs.members),
            "writableVotingMembersCount": len(rs.members),
            "optimes": {
                "lastCommittedOpTime": head, "lastCommittedWallTime": _date(applied),
                "appliedOpTime": _optime(applied, rs.term), "durableOpTime": _optime(applied, rs.term),
                "lastAppliedWallTime": _date(applied), "lastDurableWallTime": _date(applied),
            },
        }  # fmt: skip
        if me.initial_sync:
            out["initialSyncStatus"] = {
                "failedInitialSyncAttempts": 0, "maxFailedInitialSyncAttempts": 10,
                "initialSyncStart": _date(me.started_at), "totalInitialSyncElapsedMillis": int((now - me.started_at) * 1000),
                "initialSyncAttempts": [], "appliedOps": 0, "approxTotalDataSize": 52_428_800_000,
                "approxTotalBytesCopied": 1_048_576, "remainingInitialSyncEstimatedMillis": 3_600_000,
            }  # fmt: skip
        out["members"] = [self._member_status(o, now) for o in rs.members]
        out["ok"] = 1.0
        return out

    def _member_status(self, o: Member, now: float) -> dict[str, Any]:
        rs = self.rs
        entry: dict[str, Any] = {"_id": o.index, "name": o.name}
        if not o.running:
            zero = _optime(0, -1)
            entry.update(
                health=0.0, state=int(State.DOWN), stateStr="(not reachable/healthy)", uptime=0,
                optime=zero, optimeDurable=zero, optimeDate=_date(0), optimeDurableDate=_date(0),
                lastAppliedWallTime=_date(0), lastHeartbeat=_date(now), lastHeartbeatRecv=_date(0), pingMs=Int64(0),
                lastHeartbeatMessage=f"Error connecting to {o.name} :: caused by :: Connection refused",
                authenticated=False, syncSourceHost="", syncSourceId=-1, infoMessage="", configVersion=-1, configTerm=-1,
            )  # fmt: skip
            return entry
        wall = rs.optime(o, now)
        optime = _optime(wall, rs.term)
        entry.update(
            health=1.0, state=int(o.state), stateStr=o.state.name, uptime=int(now - o.started_at),
            optime=optime, optimeDurable=optime, optimeDate=_date(int(wall)), optimeDurableDate=_date(int(wall)),
            lastAppliedWallTime=_date(wall), lastDurableWallTime=_date(wall),
            syncSourceHost=self._sync_source(o), syncSourceId=self._sync_source_id(o), infoMessage="",
            configVersion=1, configTerm=Int64(rs.term),
        )  # fmt: skip
        if o.state is State.PRIMARY:
            entry.update(
                electionTime=Timestamp(int(rs.elected_at), 1), electionDate=_date(int(rs.elected_at))
            )
        if o is self.member:
            entry["self"] = True
            entry["lastHeartbeatMessage"] = ""
        else:
            entry.update(
                lastHeartbeat=_date(now),
                lastHeartbeatRecv=_date(now),
                pingMs=Int64(0),
                lastHeartbeatMessage="",
            )
        return entry

    def _sync_source(self, o: Member) -> str:
        primary = self.rs.primary()
        return primary.name if primary and o.state is State.SECONDARY and o.running else ""

    def _sync_source_id(self, o: Member) -> int:
        primary = self.rs.primary()
        return primary.index if primary and o.state is State.SECONDARY and o.running else -1

    def _replsetgetconfig(self, doc: dict, now: float, request: Any) -> dict[str, Any]:
        rs = self.rs
        members = [
            {"_id": o.index, "host": o.name, "arbiterOnly": False, "buildIndexes": True, "hidden": False,
             "priority": o.priority, "tags": {}, "secondaryDelaySecs": Int64(0), "votes": 1}
            for o in rs.members
        ]  # fmt: skip
        config = {
            "_id": rs.config.set_name, "version": 1, "term": rs.term, "protocolVersion": Int64(1),
            "writeConcernMajorityJournalDefault": True, "members": members,
            "settings": {"chainingAllowed": True, "heartbeatIntervalMillis": 2000, "heartbeatTimeoutSecs": 10,
                         "electionTimeoutMillis": 10000, "catchUpTimeoutMillis": -1},
        }  # fmt: skip
        return {"config": config, "ok": 1.0}

    def _serverstatus(self, doc: dict, now: float, request: Any) -> dict[str, Any]:
        m, hello = self.member, self._hello({}, now, request)
        return {
            "host": m.name, "version": m.version, "process": "mongod", "pid": Int64(os.getpid()),
            "uptime": float(int(now - m.started_at)), "uptimeMillis": Int64(int((now - m.started_at) * 1000)),
            "localTime": _date(now), "repl": {k: hello[k] for k in ("setName", "isWritablePrimary", "secondary", "hosts", "me") if k in hello},
            "ok": 1.0,
        }  # fmt: skip

    # --- administration -------------------------------------------------------------------------------------

    def _getparameter(self, doc: dict, now: float, request: Any) -> dict[str, Any]:
        wanted = [k for k in doc if k != "getParameter" and not _CLIENT_FIELDS.match(k)]
        if doc.get("getParameter") != "*" and wanted != ["featureCompatibilityVersion"]:
            return _err(72, "InvalidOptions", "no option found to get")
        return {"featureCompatibilityVersion": {"version": self.rs.fcv}, "ok": 1.0}

    def _setfeaturecompatibilityversion(self, doc: dict, now: float, request: Any) -> dict[str, Any]:
        target = str(doc.get("setFeatureCompatibilityVersion", ""))
        self.rs.set_fcv(self.member, target, bool(doc.get("confirm", False)))
        return {"ok": 1.0}

    def _replsetstepdown(self, doc: dict, now: float, request: Any) -> dict[str, Any]:
        secs = doc.get("replSetStepDown")
        secs = float(secs) if isinstance(secs, int | float) else 60.0
        catch_up = float(doc.get("secondaryCatchUpPeriodSecs", 10))
        self.rs.step_down(self.member, now, secs, catch_up, bool(doc.get("force", False)))
        return {"ok": 1.0}

    def _replsetfreeze(self, doc: dict, now: float, request: Any) -> dict[str, Any]:
        seconds = float(doc.get("replSetFreeze", 0))
        self.rs.freeze(self.member, now, seconds)
        return {"info": "unfreezing", "ok": 1.0} if seconds == 0 else {"ok": 1.0}

    def _shutdown(self, doc: dict, now: float, request: Any) -> None:
        rs, m = self.rs, self.member
        timeout = float(doc.get("timeoutSecs", 15))
        if m.state is State.PRIMARY:
            rs.step_down(m, now, max(timeout, 15.0), timeout, bool(doc.get("force", False)))
        rs.stop(m, now)
        return None  # mongod closes the connection instead of answering

    def _ping(self, doc: dict, now: float, request: Any) -> dict[str, Any]:
        return {"ok": 1.0}

    def _endsessions(self, doc: dict, now: float, request: Any) -> dict[str, Any]:
        return {"ok": 1.0}

    _killcursors = _endsessions

    def _saslstart(self, doc: dict, now: float, request: Any) -> dict[str, Any]:
        return _err(18, "AuthenticationFailed", "Authentication failed.")

    # --- data (enough for a smoke write and the oplog window) ---------------------------------------------

    def _insert(self, doc: dict, now: float, request: Any) -> dict[str, Any]:
        if self.member.state is not State.PRIMARY:
            return _err(10107, "NotWritablePrimary", "not primary")
        documents = list(doc.get("documents", []))
        for d in documents:
            d.setdefault("_id", ObjectId())
        self.rs.collections.setdefault((doc.get("$db", "test"), str(doc["insert"])), []).extend(documents)
        return {"n": len(documents), "ok": 1.0}

    def _find(self, doc: dict, now: float, request: Any) -> dict[str, Any]:
        rs, m = self.rs, self.member
        db, coll = doc.get("$db", "test"), str(doc["find"])
        if (db, coll) == ("local", "oplog.rs"):
            batch = self._oplog(doc, now)
        else:
            if m.state not in (State.PRIMARY, State.SECONDARY):
                return _err(13436, "NotPrimaryOrSecondary", "node is not in primary or recovering state")
            if m.state is State.SECONDARY and not request.slave_ok:
                return _err(13435, "NotPrimaryNoSecondaryOk", "not primary and secondaryOk=false")
            wanted = doc.get("filter") or {}
            batch = [
                d for d in rs.collections.get((db, coll), []) if all(d.get(k) == v for k, v in wanted.items())
            ]
        limit = abs(int(doc.get("limit", 0) or 0))
        if limit:
            batch = batch[:limit]
        return {"cursor": {"id": Int64(0), "ns": f"{db}.{coll}", "firstBatch": batch}, "ok": 1.0}

    def _oplog(self, doc: dict, now: float) -> list[dict[str, Any]]:
        """The first and the last oplog entry: what ``rs.printReplicationInfo()`` reads."""
        rs, m = self.rs, self.member
        last = rs.optime(m, now)
        if last <= 0:
            return []
        first = last - m.oplog_hours * 3600
        entries = [
            {"op": "n", "ns": "", "o": {"msg": msg}, "ts": _optime(wall, rs.term)["ts"], "t": Int64(rs.term),
             "v": Int64(2), "wall": _date(wall)}
            for wall, msg in ((first, "initiating set"), (last, "periodic noop"))
        ]  # fmt: skip
        natural = (doc.get("sort") or {}).get("$natural", 1)
        return entries[::-1] if natural < 0 else entries
