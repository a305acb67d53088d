"""Illumina run folders: a watcher that turns what sequencers write into run events, and the parsers under it.

Watch an instrument's output directory through the ``drivers.Driver`` shape::

    watcher = create_driver("novaseq-x-1", RunFolderDeviceSettings(watch_dir=Path("/data/runs"), state_file=...))
    await watcher.open()
    events = await watcher.poll()   # run_started, run_progress, read_completed, run_completed, run_failed, ...

or look at one folder once: ``read_run_folder(path)`` (what ``tracseq runfolder inspect DIR`` prints).
The parsers take bytes and the file's name, refuse DTDs and entities, and raise ``MalformedRunFileError``
naming the file and the reason. See README.md in this folder for the rules and their sources.
"""

from drivers.runfolder.completion import (
    CompletionStatus,
    ReadComplete,
    RtaComplete,
    parse_completion_status,
    parse_read_complete,
    parse_rta_complete,
)
from drivers.runfolder.errors import MalformedRunFileError, NotARunFolderError, RunFolderError, UnsafeXmlError
from drivers.runfolder.interop import ExtractionProgress, read_extraction_progress
from drivers.runfolder.platforms import platform_name
from drivers.runfolder.reader import RunFolderReader, read_run_folder
from drivers.runfolder.rtalog import LogFindings, scan_log
from drivers.runfolder.runinfo import FlowcellLayout, Read, RunInfo, parse_run_info
from drivers.runfolder.runparameters import Consumable, RunParameters, parse_run_parameters
from drivers.runfolder.settings import RunFolderDeviceSettings
from drivers.runfolder.snapshot import Problem, RunEvidence, RunFolderSnapshot, RunState, conclude
from drivers.runfolder.timestamps import RunTime, parse_time
from drivers.runfolder.watcher import RunFolderWatcher, create_driver

__all__ = [
    "CompletionStatus",
    "Consumable",
    "ExtractionProgress",
    "FlowcellLayout",
    "LogFindings",
    "MalformedRunFileError",
    "NotARunFolderError",
    "Problem",
    "Read",
    "ReadComplete",
    "RtaComplete",
    "RunEvidence",
    "RunFolderDeviceSettings",
    "RunFolderError",
    "RunFolderReader",
    "RunFolderSnapshot",
    "RunFolderWatcher",
    "RunInfo",
    "RunParameters",
    "RunState",
    "RunTime",
    "UnsafeXmlError",
    "conclude",
    "create_driver",
    "parse_completion_status",
    "parse_read_complete",
    "parse_rta_complete",
    "parse_run_info",
    "parse_run_parameters",
    "parse_time",
    "platform_name",
    "read_extraction_progress",
    "read_run_folder",
    "scan_log",
]
