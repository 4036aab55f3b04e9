"""Platform operator accounts."""

from __future__ import annotations

from sqlmodel import select

from plateaux.platform.auth.models import Operator
from plateaux.platform.database import Database
from plateaux.platform.errors import BadRequest
from plateaux.platform.security import hash_password, password_problem
from plateaux.platform.settings import Settings
from plateaux.tenants.repository import normalise_email


async def create_operator_account(
    settings: Settings, *, email: str, name: str, password: str
) -> None:
    if problem := password_problem(password):
        raise BadRequest(problem)
    db = Database(settings)
    try:
        async with db.session() as session:
            email = normalise_email(email)
            operator = (
                await session.scalars(select(Operator).where(Operator.email == email))
            ).first()
            if operator is None:
                session.add(Operator(email=email, name=name, password_hash=hash_password(password)))
            else:
                operator.name = name
                operator.password_hash = hash_password(password)
    finally:
        await db.dispose()
