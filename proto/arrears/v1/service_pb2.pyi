from arrears.v1 import events_pb2 as _events_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LogName(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_NAME_LEDGER: _ClassVar[LogName]
    LOG_NAME_INQUIRIES: _ClassVar[LogName]
LOG_NAME_LEDGER: LogName
LOG_NAME_INQUIRIES: LogName

class Receipt(_message.Message):
    __slots__ = ("index", "leaf", "leaf_hash", "tree_size", "inclusion_proof", "checkpoint", "tlog_proof", "replayed")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LEAF_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    INCLUSION_PROOF_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    TLOG_PROOF_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    index: int
    leaf: bytes
    leaf_hash: bytes
    tree_size: int
    inclusion_proof: _containers.RepeatedScalarFieldContainer[bytes]
    checkpoint: bytes
    tlog_proof: str
    replayed: bool
    def __init__(self, index: _Optional[int] = ..., leaf: _Optional[bytes] = ..., leaf_hash: _Optional[bytes] = ..., tree_size: _Optional[int] = ..., inclusion_proof: _Optional[_Iterable[bytes]] = ..., checkpoint: _Optional[bytes] = ..., tlog_proof: _Optional[str] = ..., replayed: _Optional[bool] = ...) -> None: ...

class SubmitRequest(_message.Message):
    __slots__ = ("envelope", "opening", "client_ref")
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    OPENING_FIELD_NUMBER: _ClassVar[int]
    CLIENT_REF_FIELD_NUMBER: _ClassVar[int]
    envelope: _events_pb2.SignedEnvelope
    opening: _events_pb2.SubjectOpening
    client_ref: str
    def __init__(self, envelope: _Optional[_Union[_events_pb2.SignedEnvelope, _Mapping]] = ..., opening: _Optional[_Union[_events_pb2.SubjectOpening, _Mapping]] = ..., client_ref: _Optional[str] = ...) -> None: ...

class SubmitBatch(_message.Message):
    __slots__ = ("requests", "omit_tlog_proof")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    OMIT_TLOG_PROOF_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[SubmitRequest]
    omit_tlog_proof: bool
    def __init__(self, requests: _Optional[_Iterable[_Union[SubmitRequest, _Mapping]]] = ..., omit_tlog_proof: _Optional[bool] = ...) -> None: ...

class SubmitResult(_message.Message):
    __slots__ = ("client_ref", "receipt", "error_code", "error_message", "error_rule")
    CLIENT_REF_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_RULE_FIELD_NUMBER: _ClassVar[int]
    client_ref: str
    receipt: Receipt
    error_code: int
    error_message: str
    error_rule: str
    def __init__(self, client_ref: _Optional[str] = ..., receipt: _Optional[_Union[Receipt, _Mapping]] = ..., error_code: _Optional[int] = ..., error_message: _Optional[str] = ..., error_rule: _Optional[str] = ...) -> None: ...

class SubmitResults(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SubmitResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SubmitResult, _Mapping]]] = ...) -> None: ...

class ListMembersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MemberInfo(_message.Message):
    __slots__ = ("member_id", "name", "roles", "suspended", "admitted_at", "keys")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    SUSPENDED_FIELD_NUMBER: _ClassVar[int]
    ADMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    name: str
    roles: _containers.RepeatedScalarFieldContainer[_events_pb2.Role]
    suspended: bool
    admitted_at: int
    keys: _containers.RepeatedCompositeFieldContainer[MemberKeyInfo]
    def __init__(self, member_id: _Optional[str] = ..., name: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[_events_pb2.Role, str]]] = ..., suspended: _Optional[bool] = ..., admitted_at: _Optional[int] = ..., keys: _Optional[_Iterable[_Union[MemberKeyInfo, _Mapping]]] = ...) -> None: ...

class MemberKeyInfo(_message.Message):
    __slots__ = ("key_id", "public_key", "added_at", "revoked_at")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    ADDED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    key_id: bytes
    public_key: bytes
    added_at: int
    revoked_at: int
    def __init__(self, key_id: _Optional[bytes] = ..., public_key: _Optional[bytes] = ..., added_at: _Optional[int] = ..., revoked_at: _Optional[int] = ...) -> None: ...

class ListMembersResponse(_message.Message):
    __slots__ = ("members",)
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[MemberInfo]
    def __init__(self, members: _Optional[_Iterable[_Union[MemberInfo, _Mapping]]] = ...) -> None: ...

class OprfKeyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class OprfKey(_message.Message):
    __slots__ = ("epoch", "public_key", "suite")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SUITE_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    public_key: bytes
    suite: str
    def __init__(self, epoch: _Optional[int] = ..., public_key: _Optional[bytes] = ..., suite: _Optional[str] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("blinded_elements",)
    BLINDED_ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    blinded_elements: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, blinded_elements: _Optional[_Iterable[bytes]] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("epoch", "evaluated_elements", "proof")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    evaluated_elements: _containers.RepeatedScalarFieldContainer[bytes]
    proof: bytes
    def __init__(self, epoch: _Optional[int] = ..., evaluated_elements: _Optional[_Iterable[bytes]] = ..., proof: _Optional[bytes] = ...) -> None: ...

class CheckRequest(_message.Message):
    __slots__ = ("pseudonym", "purpose", "consent_reference", "known_tree_size", "cosigned")
    PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CONSENT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    KNOWN_TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    COSIGNED_FIELD_NUMBER: _ClassVar[int]
    pseudonym: bytes
    purpose: _events_pb2.Purpose
    consent_reference: str
    known_tree_size: int
    cosigned: bool
    def __init__(self, pseudonym: _Optional[bytes] = ..., purpose: _Optional[_Union[_events_pb2.Purpose, str]] = ..., consent_reference: _Optional[str] = ..., known_tree_size: _Optional[int] = ..., cosigned: _Optional[bool] = ...) -> None: ...

class RecordEntry(_message.Message):
    __slots__ = ("index", "leaf", "inclusion_proof")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LEAF_FIELD_NUMBER: _ClassVar[int]
    INCLUSION_PROOF_FIELD_NUMBER: _ClassVar[int]
    index: int
    leaf: bytes
    inclusion_proof: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, index: _Optional[int] = ..., leaf: _Optional[bytes] = ..., inclusion_proof: _Optional[_Iterable[bytes]] = ...) -> None: ...

class RecordEvidence(_message.Message):
    __slots__ = ("record", "salt", "entries")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    SALT_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    record: _events_pb2.RecordRef
    salt: bytes
    entries: _containers.RepeatedCompositeFieldContainer[RecordEntry]
    def __init__(self, record: _Optional[_Union[_events_pb2.RecordRef, _Mapping]] = ..., salt: _Optional[bytes] = ..., entries: _Optional[_Iterable[_Union[RecordEntry, _Mapping]]] = ...) -> None: ...

class Summary(_message.Message):
    __slots__ = ("defaults_12m", "defaults_24m", "defaults_60m", "active", "settled", "worst_dpd_bucket", "outstanding", "open_dispute", "overdue_dispute", "reporting_members")
    DEFAULTS_12M_FIELD_NUMBER: _ClassVar[int]
    DEFAULTS_24M_FIELD_NUMBER: _ClassVar[int]
    DEFAULTS_60M_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    SETTLED_FIELD_NUMBER: _ClassVar[int]
    WORST_DPD_BUCKET_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    OPEN_DISPUTE_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_DISPUTE_FIELD_NUMBER: _ClassVar[int]
    REPORTING_MEMBERS_FIELD_NUMBER: _ClassVar[int]
    defaults_12m: int
    defaults_24m: int
    defaults_60m: int
    active: int
    settled: int
    worst_dpd_bucket: _events_pb2.DpdBucket
    outstanding: _containers.RepeatedCompositeFieldContainer[_events_pb2.Money]
    open_dispute: bool
    overdue_dispute: bool
    reporting_members: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, defaults_12m: _Optional[int] = ..., defaults_24m: _Optional[int] = ..., defaults_60m: _Optional[int] = ..., active: _Optional[int] = ..., settled: _Optional[int] = ..., worst_dpd_bucket: _Optional[_Union[_events_pb2.DpdBucket, str]] = ..., outstanding: _Optional[_Iterable[_Union[_events_pb2.Money, _Mapping]]] = ..., open_dispute: _Optional[bool] = ..., overdue_dispute: _Optional[bool] = ..., reporting_members: _Optional[_Iterable[str]] = ...) -> None: ...

class CheckResponse(_message.Message):
    __slots__ = ("pseudonym", "as_of", "tree_size", "checkpoint", "records", "summary", "inquiry_id", "consistency_proof")
    PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    INQUIRY_ID_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_PROOF_FIELD_NUMBER: _ClassVar[int]
    pseudonym: bytes
    as_of: _events_pb2.Date
    tree_size: int
    checkpoint: bytes
    records: _containers.RepeatedCompositeFieldContainer[RecordEvidence]
    summary: Summary
    inquiry_id: int
    consistency_proof: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, pseudonym: _Optional[bytes] = ..., as_of: _Optional[_Union[_events_pb2.Date, _Mapping]] = ..., tree_size: _Optional[int] = ..., checkpoint: _Optional[bytes] = ..., records: _Optional[_Iterable[_Union[RecordEvidence, _Mapping]]] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ..., inquiry_id: _Optional[int] = ..., consistency_proof: _Optional[_Iterable[bytes]] = ...) -> None: ...

class CheckBatchRequest(_message.Message):
    __slots__ = ("pseudonyms", "purpose", "consent_reference", "known_tree_size", "cosigned")
    PSEUDONYMS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CONSENT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    KNOWN_TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    COSIGNED_FIELD_NUMBER: _ClassVar[int]
    pseudonyms: _containers.RepeatedScalarFieldContainer[bytes]
    purpose: _events_pb2.Purpose
    consent_reference: str
    known_tree_size: int
    cosigned: bool
    def __init__(self, pseudonyms: _Optional[_Iterable[bytes]] = ..., purpose: _Optional[_Union[_events_pb2.Purpose, str]] = ..., consent_reference: _Optional[str] = ..., known_tree_size: _Optional[int] = ..., cosigned: _Optional[bool] = ...) -> None: ...

class CheckBatchResponse(_message.Message):
    __slots__ = ("tree_size", "checkpoint", "results", "consistency_proof")
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_PROOF_FIELD_NUMBER: _ClassVar[int]
    tree_size: int
    checkpoint: bytes
    results: _containers.RepeatedCompositeFieldContainer[CheckResponse]
    consistency_proof: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, tree_size: _Optional[int] = ..., checkpoint: _Optional[bytes] = ..., results: _Optional[_Iterable[_Union[CheckResponse, _Mapping]]] = ..., consistency_proof: _Optional[_Iterable[bytes]] = ...) -> None: ...

class CheckManyRequest(_message.Message):
    __slots__ = ("checks", "known_tree_size", "cosigned")
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    KNOWN_TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    COSIGNED_FIELD_NUMBER: _ClassVar[int]
    checks: _containers.RepeatedCompositeFieldContainer[CheckRequest]
    known_tree_size: int
    cosigned: bool
    def __init__(self, checks: _Optional[_Iterable[_Union[CheckRequest, _Mapping]]] = ..., known_tree_size: _Optional[int] = ..., cosigned: _Optional[bool] = ...) -> None: ...

class CheckManyResult(_message.Message):
    __slots__ = ("answer", "error_code", "error_message", "error_rule")
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_RULE_FIELD_NUMBER: _ClassVar[int]
    answer: CheckResponse
    error_code: int
    error_message: str
    error_rule: str
    def __init__(self, answer: _Optional[_Union[CheckResponse, _Mapping]] = ..., error_code: _Optional[int] = ..., error_message: _Optional[str] = ..., error_rule: _Optional[str] = ...) -> None: ...

class CheckManyResponse(_message.Message):
    __slots__ = ("tree_size", "checkpoint", "results", "consistency_proof")
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_PROOF_FIELD_NUMBER: _ClassVar[int]
    tree_size: int
    checkpoint: bytes
    results: _containers.RepeatedCompositeFieldContainer[CheckManyResult]
    consistency_proof: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, tree_size: _Optional[int] = ..., checkpoint: _Optional[bytes] = ..., results: _Optional[_Iterable[_Union[CheckManyResult, _Mapping]]] = ..., consistency_proof: _Optional[_Iterable[bytes]] = ...) -> None: ...

class SubjectReportRequest(_message.Message):
    __slots__ = ("pseudonym", "request_reference", "known_inquiry_tree_size")
    PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    REQUEST_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    KNOWN_INQUIRY_TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    pseudonym: bytes
    request_reference: str
    known_inquiry_tree_size: int
    def __init__(self, pseudonym: _Optional[bytes] = ..., request_reference: _Optional[str] = ..., known_inquiry_tree_size: _Optional[int] = ...) -> None: ...

class InquiryEvidence(_message.Message):
    __slots__ = ("index", "leaf", "salt", "inclusion_proof")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LEAF_FIELD_NUMBER: _ClassVar[int]
    SALT_FIELD_NUMBER: _ClassVar[int]
    INCLUSION_PROOF_FIELD_NUMBER: _ClassVar[int]
    index: int
    leaf: bytes
    salt: bytes
    inclusion_proof: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, index: _Optional[int] = ..., leaf: _Optional[bytes] = ..., salt: _Optional[bytes] = ..., inclusion_proof: _Optional[_Iterable[bytes]] = ...) -> None: ...

class SubjectReportResponse(_message.Message):
    __slots__ = ("pseudonym", "as_of", "tree_size", "checkpoint", "records", "inquiry_tree_size", "inquiry_checkpoint", "inquiries", "inquiry_consistency_proof")
    PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    INQUIRY_TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    INQUIRY_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    INQUIRIES_FIELD_NUMBER: _ClassVar[int]
    INQUIRY_CONSISTENCY_PROOF_FIELD_NUMBER: _ClassVar[int]
    pseudonym: bytes
    as_of: _events_pb2.Date
    tree_size: int
    checkpoint: bytes
    records: _containers.RepeatedCompositeFieldContainer[RecordEvidence]
    inquiry_tree_size: int
    inquiry_checkpoint: bytes
    inquiries: _containers.RepeatedCompositeFieldContainer[InquiryEvidence]
    inquiry_consistency_proof: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, pseudonym: _Optional[bytes] = ..., as_of: _Optional[_Union[_events_pb2.Date, _Mapping]] = ..., tree_size: _Optional[int] = ..., checkpoint: _Optional[bytes] = ..., records: _Optional[_Iterable[_Union[RecordEvidence, _Mapping]]] = ..., inquiry_tree_size: _Optional[int] = ..., inquiry_checkpoint: _Optional[bytes] = ..., inquiries: _Optional[_Iterable[_Union[InquiryEvidence, _Mapping]]] = ..., inquiry_consistency_proof: _Optional[_Iterable[bytes]] = ...) -> None: ...

class WatchRegistration(_message.Message):
    __slots__ = ("pseudonym", "relationship_reference")
    PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIP_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    pseudonym: bytes
    relationship_reference: str
    def __init__(self, pseudonym: _Optional[bytes] = ..., relationship_reference: _Optional[str] = ...) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ("registrations",)
    REGISTRATIONS_FIELD_NUMBER: _ClassVar[int]
    registrations: _containers.RepeatedCompositeFieldContainer[WatchRegistration]
    def __init__(self, registrations: _Optional[_Iterable[_Union[WatchRegistration, _Mapping]]] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("registered",)
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    registered: int
    def __init__(self, registered: _Optional[int] = ...) -> None: ...

class UnregisterRequest(_message.Message):
    __slots__ = ("pseudonyms",)
    PSEUDONYMS_FIELD_NUMBER: _ClassVar[int]
    pseudonyms: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, pseudonyms: _Optional[_Iterable[bytes]] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("cursor",)
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    cursor: int
    def __init__(self, cursor: _Optional[int] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("cursor", "pseudonym", "relationship_reference", "record", "event", "entry", "checkpoint", "tree_size", "report", "salt")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIP_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    SALT_FIELD_NUMBER: _ClassVar[int]
    cursor: int
    pseudonym: bytes
    relationship_reference: str
    record: _events_pb2.RecordRef
    event: str
    entry: RecordEntry
    checkpoint: bytes
    tree_size: int
    report: RecordEntry
    salt: bytes
    def __init__(self, cursor: _Optional[int] = ..., pseudonym: _Optional[bytes] = ..., relationship_reference: _Optional[str] = ..., record: _Optional[_Union[_events_pb2.RecordRef, _Mapping]] = ..., event: _Optional[str] = ..., entry: _Optional[_Union[RecordEntry, _Mapping]] = ..., checkpoint: _Optional[bytes] = ..., tree_size: _Optional[int] = ..., report: _Optional[_Union[RecordEntry, _Mapping]] = ..., salt: _Optional[bytes] = ...) -> None: ...

class GetCheckpointRequest(_message.Message):
    __slots__ = ("log", "cosigned")
    LOG_FIELD_NUMBER: _ClassVar[int]
    COSIGNED_FIELD_NUMBER: _ClassVar[int]
    log: LogName
    cosigned: bool
    def __init__(self, log: _Optional[_Union[LogName, str]] = ..., cosigned: _Optional[bool] = ...) -> None: ...

class SignedCheckpoint(_message.Message):
    __slots__ = ("note", "tree_size")
    NOTE_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    note: bytes
    tree_size: int
    def __init__(self, note: _Optional[bytes] = ..., tree_size: _Optional[int] = ...) -> None: ...

class InclusionProofRequest(_message.Message):
    __slots__ = ("index", "tree_size")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    index: int
    tree_size: int
    def __init__(self, index: _Optional[int] = ..., tree_size: _Optional[int] = ...) -> None: ...

class InclusionProof(_message.Message):
    __slots__ = ("index", "tree_size", "leaf", "hashes", "leaf_hash")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    LEAF_FIELD_NUMBER: _ClassVar[int]
    HASHES_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    index: int
    tree_size: int
    leaf: bytes
    hashes: _containers.RepeatedScalarFieldContainer[bytes]
    leaf_hash: bytes
    def __init__(self, index: _Optional[int] = ..., tree_size: _Optional[int] = ..., leaf: _Optional[bytes] = ..., hashes: _Optional[_Iterable[bytes]] = ..., leaf_hash: _Optional[bytes] = ...) -> None: ...

class ConsistencyProofRequest(_message.Message):
    __slots__ = ("from_size", "to_size", "log")
    FROM_SIZE_FIELD_NUMBER: _ClassVar[int]
    TO_SIZE_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    from_size: int
    to_size: int
    log: LogName
    def __init__(self, from_size: _Optional[int] = ..., to_size: _Optional[int] = ..., log: _Optional[_Union[LogName, str]] = ...) -> None: ...

class ConsistencyProof(_message.Message):
    __slots__ = ("from_size", "to_size", "hashes")
    FROM_SIZE_FIELD_NUMBER: _ClassVar[int]
    TO_SIZE_FIELD_NUMBER: _ClassVar[int]
    HASHES_FIELD_NUMBER: _ClassVar[int]
    from_size: int
    to_size: int
    hashes: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, from_size: _Optional[int] = ..., to_size: _Optional[int] = ..., hashes: _Optional[_Iterable[bytes]] = ...) -> None: ...

class GetEntriesRequest(_message.Message):
    __slots__ = ("start", "end", "log")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    start: int
    end: int
    log: LogName
    def __init__(self, start: _Optional[int] = ..., end: _Optional[int] = ..., log: _Optional[_Union[LogName, str]] = ...) -> None: ...

class Entry(_message.Message):
    __slots__ = ("index", "leaf")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LEAF_FIELD_NUMBER: _ClassVar[int]
    index: int
    leaf: bytes
    def __init__(self, index: _Optional[int] = ..., leaf: _Optional[bytes] = ...) -> None: ...

class Entries(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[Entry]
    def __init__(self, entries: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ...) -> None: ...

class AddCosignatureRequest(_message.Message):
    __slots__ = ("tree_size", "signature_line", "log")
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_LINE_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    tree_size: int
    signature_line: str
    log: LogName
    def __init__(self, tree_size: _Optional[int] = ..., signature_line: _Optional[str] = ..., log: _Optional[_Union[LogName, str]] = ...) -> None: ...

class AddCosignatureResponse(_message.Message):
    __slots__ = ("note",)
    NOTE_FIELD_NUMBER: _ClassVar[int]
    note: bytes
    def __init__(self, note: _Optional[bytes] = ...) -> None: ...
