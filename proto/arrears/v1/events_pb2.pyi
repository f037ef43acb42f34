from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubjectKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBJECT_KIND_UNSPECIFIED: _ClassVar[SubjectKind]
    SUBJECT_KIND_PERSON: _ClassVar[SubjectKind]
    SUBJECT_KIND_ENTERPRISE: _ClassVar[SubjectKind]

class LoanType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOAN_TYPE_UNSPECIFIED: _ClassVar[LoanType]
    LOAN_TYPE_PERSONAL: _ClassVar[LoanType]
    LOAN_TYPE_MORTGAGE: _ClassVar[LoanType]
    LOAN_TYPE_AUTO: _ClassVar[LoanType]
    LOAN_TYPE_CREDIT_CARD: _ClassVar[LoanType]
    LOAN_TYPE_BUSINESS: _ClassVar[LoanType]
    LOAN_TYPE_STUDENT: _ClassVar[LoanType]
    LOAN_TYPE_CONSUMER: _ClassVar[LoanType]
    LOAN_TYPE_OTHER: _ClassVar[LoanType]

class DpdBucket(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DPD_BUCKET_UNSPECIFIED: _ClassVar[DpdBucket]
    DPD_BUCKET_1_30: _ClassVar[DpdBucket]
    DPD_BUCKET_31_60: _ClassVar[DpdBucket]
    DPD_BUCKET_61_90: _ClassVar[DpdBucket]
    DPD_BUCKET_91_120: _ClassVar[DpdBucket]
    DPD_BUCKET_121_150: _ClassVar[DpdBucket]
    DPD_BUCKET_151_180: _ClassVar[DpdBucket]
    DPD_BUCKET_OVER_180: _ClassVar[DpdBucket]

class CollectionStage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COLLECTION_STAGE_UNSPECIFIED: _ClassVar[CollectionStage]
    COLLECTION_STAGE_REMINDER: _ClassVar[CollectionStage]
    COLLECTION_STAGE_PHONE: _ClassVar[CollectionStage]
    COLLECTION_STAGE_FIELD_VISIT: _ClassVar[CollectionStage]
    COLLECTION_STAGE_LITIGATION: _ClassVar[CollectionStage]
    COLLECTION_STAGE_WRITTEN_OFF: _ClassVar[CollectionStage]

class SettlementKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SETTLEMENT_KIND_UNSPECIFIED: _ClassVar[SettlementKind]
    SETTLEMENT_KIND_FULL: _ClassVar[SettlementKind]
    SETTLEMENT_KIND_NEGOTIATED: _ClassVar[SettlementKind]

class DisputeOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DISPUTE_OUTCOME_UNSPECIFIED: _ClassVar[DisputeOutcome]
    DISPUTE_OUTCOME_CORRECTED: _ClassVar[DisputeOutcome]
    DISPUTE_OUTCOME_WITHDRAWN: _ClassVar[DisputeOutcome]
    DISPUTE_OUTCOME_REJECTED: _ClassVar[DisputeOutcome]

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_REPORTER: _ClassVar[Role]
    ROLE_LENDER: _ClassVar[Role]
    ROLE_REGULATOR: _ClassVar[Role]
    ROLE_OPERATOR: _ClassVar[Role]

class ErasureReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERASURE_REASON_UNSPECIFIED: _ClassVar[ErasureReason]
    ERASURE_REASON_RETENTION_ENDED: _ClassVar[ErasureReason]
    ERASURE_REASON_LAWFUL_REQUEST: _ClassVar[ErasureReason]

class Purpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PURPOSE_UNSPECIFIED: _ClassVar[Purpose]
    PURPOSE_LOAN_ORIGINATION: _ClassVar[Purpose]
    PURPOSE_ACCOUNT_REVIEW: _ClassVar[Purpose]
    PURPOSE_GUARANTEE: _ClassVar[Purpose]
    PURPOSE_SUBJECT_REQUEST: _ClassVar[Purpose]
    PURPOSE_DISPUTE: _ClassVar[Purpose]
SUBJECT_KIND_UNSPECIFIED: SubjectKind
SUBJECT_KIND_PERSON: SubjectKind
SUBJECT_KIND_ENTERPRISE: SubjectKind
LOAN_TYPE_UNSPECIFIED: LoanType
LOAN_TYPE_PERSONAL: LoanType
LOAN_TYPE_MORTGAGE: LoanType
LOAN_TYPE_AUTO: LoanType
LOAN_TYPE_CREDIT_CARD: LoanType
LOAN_TYPE_BUSINESS: LoanType
LOAN_TYPE_STUDENT: LoanType
LOAN_TYPE_CONSUMER: LoanType
LOAN_TYPE_OTHER: LoanType
DPD_BUCKET_UNSPECIFIED: DpdBucket
DPD_BUCKET_1_30: DpdBucket
DPD_BUCKET_31_60: DpdBucket
DPD_BUCKET_61_90: DpdBucket
DPD_BUCKET_91_120: DpdBucket
DPD_BUCKET_121_150: DpdBucket
DPD_BUCKET_151_180: DpdBucket
DPD_BUCKET_OVER_180: DpdBucket
COLLECTION_STAGE_UNSPECIFIED: CollectionStage
COLLECTION_STAGE_REMINDER: CollectionStage
COLLECTION_STAGE_PHONE: CollectionStage
COLLECTION_STAGE_FIELD_VISIT: CollectionStage
COLLECTION_STAGE_LITIGATION: CollectionStage
COLLECTION_STAGE_WRITTEN_OFF: CollectionStage
SETTLEMENT_KIND_UNSPECIFIED: SettlementKind
SETTLEMENT_KIND_FULL: SettlementKind
SETTLEMENT_KIND_NEGOTIATED: SettlementKind
DISPUTE_OUTCOME_UNSPECIFIED: DisputeOutcome
DISPUTE_OUTCOME_CORRECTED: DisputeOutcome
DISPUTE_OUTCOME_WITHDRAWN: DisputeOutcome
DISPUTE_OUTCOME_REJECTED: DisputeOutcome
ROLE_UNSPECIFIED: Role
ROLE_REPORTER: Role
ROLE_LENDER: Role
ROLE_REGULATOR: Role
ROLE_OPERATOR: Role
ERASURE_REASON_UNSPECIFIED: ErasureReason
ERASURE_REASON_RETENTION_ENDED: ErasureReason
ERASURE_REASON_LAWFUL_REQUEST: ErasureReason
PURPOSE_UNSPECIFIED: Purpose
PURPOSE_LOAN_ORIGINATION: Purpose
PURPOSE_ACCOUNT_REVIEW: Purpose
PURPOSE_GUARANTEE: Purpose
PURPOSE_SUBJECT_REQUEST: Purpose
PURPOSE_DISPUTE: Purpose

class Date(_message.Message):
    __slots__ = ("year", "month", "day")
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    year: int
    month: int
    day: int
    def __init__(self, year: _Optional[int] = ..., month: _Optional[int] = ..., day: _Optional[int] = ...) -> None: ...

class Money(_message.Message):
    __slots__ = ("currency", "minor_units")
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    MINOR_UNITS_FIELD_NUMBER: _ClassVar[int]
    currency: str
    minor_units: int
    def __init__(self, currency: _Optional[str] = ..., minor_units: _Optional[int] = ...) -> None: ...

class RecordRef(_message.Message):
    __slots__ = ("member_id", "record_id")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    record_id: str
    def __init__(self, member_id: _Optional[str] = ..., record_id: _Optional[str] = ...) -> None: ...

class RecordReported(_message.Message):
    __slots__ = ("record_id", "subject_commitment", "subject_kind", "loan_type", "principal", "outstanding", "days_past_due", "dpd_bucket", "first_missed_payment", "collection_stage", "borrower_notified_on")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_KIND_FIELD_NUMBER: _ClassVar[int]
    LOAN_TYPE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    DAYS_PAST_DUE_FIELD_NUMBER: _ClassVar[int]
    DPD_BUCKET_FIELD_NUMBER: _ClassVar[int]
    FIRST_MISSED_PAYMENT_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_STAGE_FIELD_NUMBER: _ClassVar[int]
    BORROWER_NOTIFIED_ON_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    subject_commitment: bytes
    subject_kind: SubjectKind
    loan_type: LoanType
    principal: Money
    outstanding: Money
    days_past_due: int
    dpd_bucket: DpdBucket
    first_missed_payment: Date
    collection_stage: CollectionStage
    borrower_notified_on: Date
    def __init__(self, record_id: _Optional[str] = ..., subject_commitment: _Optional[bytes] = ..., subject_kind: _Optional[_Union[SubjectKind, str]] = ..., loan_type: _Optional[_Union[LoanType, str]] = ..., principal: _Optional[_Union[Money, _Mapping]] = ..., outstanding: _Optional[_Union[Money, _Mapping]] = ..., days_past_due: _Optional[int] = ..., dpd_bucket: _Optional[_Union[DpdBucket, str]] = ..., first_missed_payment: _Optional[_Union[Date, _Mapping]] = ..., collection_stage: _Optional[_Union[CollectionStage, str]] = ..., borrower_notified_on: _Optional[_Union[Date, _Mapping]] = ...) -> None: ...

class RecordUpdated(_message.Message):
    __slots__ = ("record", "days_past_due", "dpd_bucket", "outstanding", "collection_stage", "as_of")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    DAYS_PAST_DUE_FIELD_NUMBER: _ClassVar[int]
    DPD_BUCKET_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_STAGE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    record: RecordRef
    days_past_due: int
    dpd_bucket: DpdBucket
    outstanding: Money
    collection_stage: CollectionStage
    as_of: Date
    def __init__(self, record: _Optional[_Union[RecordRef, _Mapping]] = ..., days_past_due: _Optional[int] = ..., dpd_bucket: _Optional[_Union[DpdBucket, str]] = ..., outstanding: _Optional[_Union[Money, _Mapping]] = ..., collection_stage: _Optional[_Union[CollectionStage, str]] = ..., as_of: _Optional[_Union[Date, _Mapping]] = ...) -> None: ...

class RecordSettled(_message.Message):
    __slots__ = ("record", "kind", "settled_on", "amount_paid")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SETTLED_ON_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_PAID_FIELD_NUMBER: _ClassVar[int]
    record: RecordRef
    kind: SettlementKind
    settled_on: Date
    amount_paid: Money
    def __init__(self, record: _Optional[_Union[RecordRef, _Mapping]] = ..., kind: _Optional[_Union[SettlementKind, str]] = ..., settled_on: _Optional[_Union[Date, _Mapping]] = ..., amount_paid: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class RecordWithdrawn(_message.Message):
    __slots__ = ("record", "reason")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    record: RecordRef
    reason: str
    def __init__(self, record: _Optional[_Union[RecordRef, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class DisputeOpened(_message.Message):
    __slots__ = ("record", "dispute_id", "opened_on", "reason")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    DISPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    OPENED_ON_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    record: RecordRef
    dispute_id: str
    opened_on: Date
    reason: str
    def __init__(self, record: _Optional[_Union[RecordRef, _Mapping]] = ..., dispute_id: _Optional[str] = ..., opened_on: _Optional[_Union[Date, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class DisputeResolved(_message.Message):
    __slots__ = ("record", "dispute_id", "outcome", "resolved_on", "explanation", "correction")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    DISPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_ON_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    CORRECTION_FIELD_NUMBER: _ClassVar[int]
    record: RecordRef
    dispute_id: str
    outcome: DisputeOutcome
    resolved_on: Date
    explanation: str
    correction: RecordUpdated
    def __init__(self, record: _Optional[_Union[RecordRef, _Mapping]] = ..., dispute_id: _Optional[str] = ..., outcome: _Optional[_Union[DisputeOutcome, str]] = ..., resolved_on: _Optional[_Union[Date, _Mapping]] = ..., explanation: _Optional[str] = ..., correction: _Optional[_Union[RecordUpdated, _Mapping]] = ...) -> None: ...

class RecordSuppressed(_message.Message):
    __slots__ = ("record", "reason")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    record: RecordRef
    reason: str
    def __init__(self, record: _Optional[_Union[RecordRef, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class RecordErased(_message.Message):
    __slots__ = ("record", "reason")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    record: RecordRef
    reason: ErasureReason
    def __init__(self, record: _Optional[_Union[RecordRef, _Mapping]] = ..., reason: _Optional[_Union[ErasureReason, str]] = ...) -> None: ...

class MemberAdmitted(_message.Message):
    __slots__ = ("member_id", "name", "roles", "public_keys")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEYS_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    name: str
    roles: _containers.RepeatedScalarFieldContainer[Role]
    public_keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, member_id: _Optional[str] = ..., name: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[Role, str]]] = ..., public_keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class MemberSuspended(_message.Message):
    __slots__ = ("member_id", "reason")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    reason: str
    def __init__(self, member_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class MemberReinstated(_message.Message):
    __slots__ = ("member_id", "reason")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    reason: str
    def __init__(self, member_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class KeyAdded(_message.Message):
    __slots__ = ("member_id", "public_key")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    public_key: bytes
    def __init__(self, member_id: _Optional[str] = ..., public_key: _Optional[bytes] = ...) -> None: ...

class KeyRevoked(_message.Message):
    __slots__ = ("member_id", "key_id", "reason")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    key_id: bytes
    reason: str
    def __init__(self, member_id: _Optional[str] = ..., key_id: _Optional[bytes] = ..., reason: _Optional[str] = ...) -> None: ...

class Submission(_message.Message):
    __slots__ = ("member_id", "submission_id", "signed_at_unix_ms", "record_reported", "record_updated", "record_settled", "record_withdrawn", "dispute_opened", "dispute_resolved", "record_suppressed", "record_erased", "member_admitted", "member_suspended", "member_reinstated", "key_added", "key_revoked")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    RECORD_REPORTED_FIELD_NUMBER: _ClassVar[int]
    RECORD_UPDATED_FIELD_NUMBER: _ClassVar[int]
    RECORD_SETTLED_FIELD_NUMBER: _ClassVar[int]
    RECORD_WITHDRAWN_FIELD_NUMBER: _ClassVar[int]
    DISPUTE_OPENED_FIELD_NUMBER: _ClassVar[int]
    DISPUTE_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    RECORD_SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    RECORD_ERASED_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ADMITTED_FIELD_NUMBER: _ClassVar[int]
    MEMBER_SUSPENDED_FIELD_NUMBER: _ClassVar[int]
    MEMBER_REINSTATED_FIELD_NUMBER: _ClassVar[int]
    KEY_ADDED_FIELD_NUMBER: _ClassVar[int]
    KEY_REVOKED_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    submission_id: str
    signed_at_unix_ms: int
    record_reported: RecordReported
    record_updated: RecordUpdated
    record_settled: RecordSettled
    record_withdrawn: RecordWithdrawn
    dispute_opened: DisputeOpened
    dispute_resolved: DisputeResolved
    record_suppressed: RecordSuppressed
    record_erased: RecordErased
    member_admitted: MemberAdmitted
    member_suspended: MemberSuspended
    member_reinstated: MemberReinstated
    key_added: KeyAdded
    key_revoked: KeyRevoked
    def __init__(self, member_id: _Optional[str] = ..., submission_id: _Optional[str] = ..., signed_at_unix_ms: _Optional[int] = ..., record_reported: _Optional[_Union[RecordReported, _Mapping]] = ..., record_updated: _Optional[_Union[RecordUpdated, _Mapping]] = ..., record_settled: _Optional[_Union[RecordSettled, _Mapping]] = ..., record_withdrawn: _Optional[_Union[RecordWithdrawn, _Mapping]] = ..., dispute_opened: _Optional[_Union[DisputeOpened, _Mapping]] = ..., dispute_resolved: _Optional[_Union[DisputeResolved, _Mapping]] = ..., record_suppressed: _Optional[_Union[RecordSuppressed, _Mapping]] = ..., record_erased: _Optional[_Union[RecordErased, _Mapping]] = ..., member_admitted: _Optional[_Union[MemberAdmitted, _Mapping]] = ..., member_suspended: _Optional[_Union[MemberSuspended, _Mapping]] = ..., member_reinstated: _Optional[_Union[MemberReinstated, _Mapping]] = ..., key_added: _Optional[_Union[KeyAdded, _Mapping]] = ..., key_revoked: _Optional[_Union[KeyRevoked, _Mapping]] = ...) -> None: ...

class SignedEnvelope(_message.Message):
    __slots__ = ("key_id", "payload", "signature")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    key_id: bytes
    payload: bytes
    signature: bytes
    def __init__(self, key_id: _Optional[bytes] = ..., payload: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class SubjectOpening(_message.Message):
    __slots__ = ("pseudonym", "salt")
    PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    SALT_FIELD_NUMBER: _ClassVar[int]
    pseudonym: bytes
    salt: bytes
    def __init__(self, pseudonym: _Optional[bytes] = ..., salt: _Optional[bytes] = ...) -> None: ...

class Inquiry(_message.Message):
    __slots__ = ("member_id", "at_unix_ms", "subject_commitment", "purpose", "consent_reference")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CONSENT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    at_unix_ms: int
    subject_commitment: bytes
    purpose: Purpose
    consent_reference: str
    def __init__(self, member_id: _Optional[str] = ..., at_unix_ms: _Optional[int] = ..., subject_commitment: _Optional[bytes] = ..., purpose: _Optional[_Union[Purpose, str]] = ..., consent_reference: _Optional[str] = ...) -> None: ...
