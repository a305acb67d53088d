"""``RunParameters.xml`` (older MiSeq and HiSeq: ``runParameters.xml``): how the run was set up.

Every instrument family writes its own dialect; the lookups below list, per field, where each family keeps it.
Nothing here is required: a field the dialect lacks is ``None``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from drivers.runfolder.safexml import Document, child, local_name, parse_xml
from drivers.runfolder.timestamps import RunTime, parse_time

RUN_PARAMETERS_NAMES = ("RunParameters.xml", "runParameters.xml")
_SIDES = {"Left": "A", "Right": "B"}  # early NovaSeq software wrote the side by name
_RFID_KINDS = {"reagentkit": "Reagent", "flowcell": "FlowCell", "pr2bottle": "PR2Bottle"}


@dataclass(frozen=True, slots=True)
class Consumable:
    """A flow cell, reagent cartridge or buffer as the instrument read it from its RFID tag."""

    type: str
    lot_number: str | None = None
    part_number: str | None = None
    serial_number: str | None = None


@dataclass(frozen=True, slots=True)
class RunParameters:
    file: str
    run_id: str | None = None
    application: str | None = None
    application_version: str | None = None
    instrument_type: str | None = None
    rta_version: str | None = None
    chemistry: str | None = None
    reagent_kit_version: str | None = None
    reagent_kit: str | None = None
    experiment_name: str | None = None
    recipe: str | None = None
    flow_cell_model: str | None = None
    flow_cell_type: str | None = None
    side: str | None = None
    workflow_type: str | None = None
    start_time: RunTime | None = None
    consumables: tuple[Consumable, ...] = ()


def parse_run_parameters(data: bytes, file: str = "RunParameters.xml") -> RunParameters:
    doc = Document(parse_xml(data, file))
    find_text = doc.find_text
    consumables = _consumables(doc)
    start_text = find_text("RunStartTime")
    side = find_text("Side", "Setup/FCPosition")
    workflow = find_text("WorkflowType", "ClusteringChoice")
    return RunParameters(
        file=file,
        run_id=find_text("RunId"),
        application=find_text("Setup/ApplicationName", "ApplicationName", "Application"),
        application_version=find_text("Setup/ApplicationVersion", "ApplicationVersion", "SystemSuiteVersion"),
        instrument_type=find_text("InstrumentType", "InstrumentPlatform"),
        rta_version=find_text("RTAVersion", "RtaVersion", "Setup/RTAVersion"),
        chemistry=find_text("Chemistry"),
        reagent_kit_version=find_text("ReagentKitVersion"),
        reagent_kit=find_text("ReagentKitSerial", "ReagentKitBarcode", "ReagentKitRfidTag/SerialNumber")
        or _serial_of(consumables, "Reagent"),
        experiment_name=find_text("ExperimentName"),
        recipe=find_text("RecipeName"),
        flow_cell_model=_flow_cell_model(doc, consumables),
        flow_cell_type=find_text("FlowCellType", "FlowCellName", "Setup/Flowcell"),
        side=_SIDES.get(side, side) if side else None,
        workflow_type=None if workflow in (None, "None") else workflow,
        start_time=parse_time(start_text, f"{file} RunStartTime") if start_text else None,
        consumables=consumables,
    )


def _flow_cell_model(doc: Document, consumables: tuple[Consumable, ...]) -> str | None:
    by_type = {consumable.type: consumable.part_number for consumable in consumables if consumable.part_number}
    return (
        by_type.get("DryCartridge")
        or doc.find_text("FlowcellRFIDTag/PartNumber", "RfidsInfo/FlowCellMode", "FlowCellPartNumber")
        or by_type.get("FlowCell")
        or doc.find_text("Setup/Flowcell")
    )


def _serial_of(consumables: tuple[Consumable, ...], kind: str) -> str | None:
    return next((c.serial_number for c in consumables if c.type == kind and c.serial_number), None)


def _consumables(doc: Document) -> tuple[Consumable, ...]:
    found = [
        _consumable(element, type_name)
        for element in doc.descendants("ConsumableInfo/ConsumableInfo")
        if (type_name := _field(element, "Type"))
    ]
    if found:
        return tuple(found)
    tags = [element for element in doc.root.iter() if local_name(element.tag).endswith("rfidtag")]
    for element in tags:
        kind = local_name(element.tag).removesuffix("rfidtag")
        found.append(_consumable(element, _RFID_KINDS.get(kind, kind)))
    return tuple(found)


def _consumable(element: ET.Element, type_name: str) -> Consumable:
    return Consumable(
        type=type_name,
        lot_number=_field(element, "LotNumber"),
        part_number=_field(element, "PartNumber"),
        serial_number=_field(element, "SerialNumber"),
    )


def _field(element: ET.Element, name: str) -> str | None:
    found = child(element, name)
    text = (found.text or "").strip() if found is not None else ""
    return text or None
