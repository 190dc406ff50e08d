"""/v1/files: upload (each row parsed by the framework's readers), list, get, content, delete."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import FileResponse

from framework.errors import UserError
from framework.service.auth import project_of
from framework.service.db import Database, File, Job, new_id, now
from framework.service.errors import api_error, not_found
from framework.service.method_types import file_type

router = APIRouter()
PURPOSES = ("fine-tune",)
SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")
CHUNK = 1 << 20


def file_object(row: File) -> dict[str, Any]:
    """OpenAI's `file` object."""
    return {
        "id": row.id,
        "object": "file",
        "bytes": row.bytes,
        "created_at": row.created_at,
        "filename": row.filename,
        "purpose": row.purpose,
        "status": "processed",
        "status_details": None,
    }


def check_rows(path: Path, shown_as: str) -> int:
    """Parse every row as training would (preference pairs, or format auto: chat, prompt and
    completion, instruction; method_types.file_type); the row count, or UserError naming
    file:line with the file's uploaded name."""
    from framework.data.formats import RowSpec
    from framework.data.load import SourceSpec, load_rows

    try:
        spec = RowSpec(format=file_type(path).file_format)
        return len(load_rows(SourceSpec("file", str(path)), spec).rows)
    except UserError as error:
        message = str(error).replace(str(path), shown_as)
        hint = " (or skip bad rows with dataset.on_bad_row=skip)"
        raise UserError(message.replace(hint, "")) from None


def get_file(db: Database, project: str, file_id: str) -> File:
    """The project's file, or 404 (also for another project's file)."""
    with db.session() as session:
        row = session.execute(
            sa.select(File).where(File.id == file_id, File.project == project, ~File.deleted)
        ).scalar_one_or_none()
    if row is None:
        raise not_found("file", file_id)
    return row


@router.post("/v1/files")
def upload(
    request: Request,
    file: UploadFile,
    purpose: str = Form(...),
    project: str = Depends(project_of),
) -> dict[str, Any]:
    state = request.app.state
    if purpose not in PURPOSES:
        message = f"purpose='{purpose}' is not supported (allowed: fine-tune)"
        raise api_error(400, message, "purpose")
    name = Path(file.filename or "upload.jsonl").name
    if Path(name).suffix.lower() not in SUFFIXES:
        raise api_error(400, f"'{name}': allowed file types are {', '.join(SUFFIXES)}", "file")
    file_id = new_id("file")
    folder = state.data_dir / "files" / file_id
    folder.mkdir(parents=True)
    target = folder / name
    limit = int(state.cfg.max_upload_mb * (1 << 20))
    size = 0
    try:
        with target.open("wb") as out:
            while chunk := file.file.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise api_error(413, f"'{name}' is larger than {state.cfg.max_upload_mb} MB")
                out.write(chunk)
        rows = check_rows(target, name)
    except UserError as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise api_error(400, str(error), "file", "invalid_file") from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    row = File(
        id=file_id,
        project=project,
        filename=name,
        purpose=purpose,
        bytes=size,
        rows=rows,
        path=str(target),
        created_at=now(),
        deleted=False,
    )
    with state.db.session() as session:
        session.add(row)
    return file_object(row)


@router.get("/v1/files")
def list_files(
    request: Request, purpose: str | None = None, project: str = Depends(project_of)
) -> dict[str, Any]:
    query = sa.select(File).where(File.project == project, ~File.deleted).order_by(File.seq.desc())
    if purpose:
        query = query.where(File.purpose == purpose)
    with request.app.state.db.session() as session:
        rows = list(session.execute(query).scalars())
    return {"object": "list", "data": [file_object(r) for r in rows], "has_more": False}


@router.get("/v1/files/{file_id}")
def retrieve(request: Request, file_id: str, project: str = Depends(project_of)) -> dict[str, Any]:
    return file_object(get_file(request.app.state.db, project, file_id))


@router.get("/v1/files/{file_id}/content")
def content(request: Request, file_id: str, project: str = Depends(project_of)) -> FileResponse:
    row = get_file(request.app.state.db, project, file_id)
    return FileResponse(row.path, filename=row.filename, media_type="application/octet-stream")


@router.delete("/v1/files/{file_id}")
def delete(request: Request, file_id: str, project: str = Depends(project_of)) -> dict[str, Any]:
    db: Database = request.app.state.db
    row = get_file(db, project, file_id)
    active = ("validating_files", "queued", "running", "paused")
    with db.session() as session:
        users = session.execute(
            sa.select(Job.id).where(
                Job.project == project,
                Job.status.in_(active),
                sa.or_(Job.training_file == file_id, Job.validation_file == file_id),
            )
        ).first()
        if users is not None:
            raise api_error(409, f"file '{file_id}' is used by active job '{users[0]}'")
        session.execute(sa.update(File).where(File.id == file_id).values(deleted=True))
    shutil.rmtree(Path(row.path).parent, ignore_errors=True)
    return {"id": file_id, "object": "file", "deleted": True}
