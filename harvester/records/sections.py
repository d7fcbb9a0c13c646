"""The protocol sections beyond design and eligibility: outcome measures, references and
links, people, oversight, IPD sharing, expanded access and the documents the registry lists."""

from __future__ import annotations

from harvester.records.base import Frozen
from harvester.records.vocabulary import (
    ContactRole,
    ExpandedAccessStatus,
    IpdSharing,
    IpdSharingInfoType,
    OfficialRole,
    Open,
    OutcomeKind,
    PartialDate,
    ReferenceType,
)


class Outcome(Frozen):
    """A planned outcome measure: primary, secondary or other (pre-specified)."""

    kind: Open[OutcomeKind]
    title: str | None = None
    description: str | None = None
    time_frame: str | None = None


class Reference(Frozen):
    citation: str | None = None
    pmid: str | None = None
    type: Open[ReferenceType] | None = None


class Link(Frozen):
    """A see-also link of the record."""

    label: str | None = None
    url: str


class Official(Frozen):
    """An overall official of the study."""

    name: str | None = None
    affiliation: str | None = None
    role: Open[OfficialRole] | None = None


class Contact(Frozen):
    """A central contact, or a contact of one site."""

    name: str | None = None
    role: Open[ContactRole] | None = None
    phone: str | None = None
    phone_ext: str | None = None
    email: str | None = None


class Oversight(Frozen):
    has_dmc: bool | None = None
    fda_regulated_drug: bool | None = None
    fda_regulated_device: bool | None = None


class IpdSharingStatement(Frozen):
    sharing: Open[IpdSharing] | None = None
    description: str | None = None
    info_types: tuple[Open[IpdSharingInfoType], ...] = ()
    time_frame: str | None = None
    access_criteria: str | None = None
    url: str | None = None


class ExpandedAccess(Frozen):
    """Whether the drug is available outside the trial, and the expanded-access record."""

    has_expanded_access: bool | None = None
    nct_id: str | None = None
    status: Open[ExpandedAccessStatus] | None = None


class Document(Frozen):
    """A document the registry lists (study protocol, SAP, informed consent form).

    ``type`` is the registry's abbreviation (``Prot``, ``SAP``, ``ICF``, ``Prot_SAP``,
    ``Prot_SAP_ICF``, …); the three flags say what the file holds; ``url`` is where the
    registry serves it."""

    type: str | None = None
    label: str | None = None
    has_protocol: bool = False
    has_sap: bool = False
    has_icf: bool = False
    date: PartialDate | None = None
    url: str | None = None
