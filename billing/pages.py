"""Billing in the consoles: the tenant admin's Billing page (usage, the customer portal),
and the operator's plans, billing overview and each tenant's billing tab."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select

from plateaux.billing import ledger
from plateaux.billing.gateway import StripeError, gateway_for
from plateaux.billing.meters import METERS, Meter
from plateaux.billing.models import Plan, StripeEvent, StripeObject
from plateaux.billing.service import account_of, parse_price, plan_usage
from plateaux.billing.summary import BillingSummary, summarize
from plateaux.billing.tasks import run_tenant
from plateaux.billing.webhooks import WEBHOOK_PATH
from plateaux.platform.database import bind_tenant
from plateaux.platform.deps import AdminConsole, DbSession, ServicesDep
from plateaux.platform.errors import Conflict, NotFound, ProblemError, UnprocessableContent
from plateaux.platform.operator_console import OperatorPage, _tenant_or_404, form_fields
from plateaux.platform.web import redirect, render
from plateaux.tenants.console import _page as admin_page

router = APIRouter(include_in_schema=False)

CURRENCIES = ("eur", "usd", "gbp", "chf", "cad")
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
STATUS_LABELS = {
    None: "Not set up", "": "Not set up", "trialing": "Trial", "active": "Active",
    "past_due": "Payment overdue", "unpaid": "Unpaid", "canceled": "Cancelled",
    "incomplete": "Incomplete", "incomplete_expired": "Expired", "paused": "Paused",
}


def _money(currency: str) -> Any:
    def render_money(amount: Decimal) -> str:
        return f"{amount.quantize(Decimal('0.01'))} {currency.upper()}"
    return render_money


def _price(currency: str) -> Any:
    def render_price(amount: Decimal) -> str:
        text = f"{amount.normalize():f}" if amount else "0"
        return f"{text} {currency.upper()}"
    return render_price


def _summary_context(summary: BillingSummary) -> dict[str, Any]:
    status = summary.account.subscription_status if summary.account else None
    return {"summary": summary, "money": _money(summary.currency),
            "price": _price(summary.currency),
            "status_label": STATUS_LABELS.get(status, status or "Not set up")}


# --- tenant admin --------------------------------------------------------------------------


@router.get("/t/{slug}/admin/billing")
async def admin_billing(request: Request, console: AdminConsole, session: DbSession,
                        services: ServicesDep) -> HTMLResponse:
    summary = await summarize(session, services.settings, console.tenant)
    portal = bool(summary.configured and summary.account
                  and summary.account.stripe_customer_id)
    return admin_page(request, console, "billing.html", section="billing",
                      portal=portal, **_summary_context(summary))


@router.get("/t/{slug}/admin/billing/portal")
async def admin_portal(console: AdminConsole, session: DbSession,
                       services: ServicesDep) -> Response:
    """Stripe's customer portal (payment method, invoices). A GET, so an admin of a
    suspended workspace, who may change nothing here, can still go and pay."""
    account = await account_of(session, console.tenant.id)
    if not services.settings.billing_enabled or account is None \
            or account.stripe_customer_id is None:
        raise NotFound("Billing is not set up for this workspace yet.")
    back = f"{services.settings.base_url}/t/{console.tenant.slug}/admin/billing"
    try:
        url = await gateway_for(services.settings).portal_session(
            customer_id=account.stripe_customer_id, return_url=back)
    except StripeError as error:
        raise Conflict("Stripe could not open the billing portal; try again shortly.") \
            from error
    return redirect(url)


# --- operator: plans -----------------------------------------------------------------------


def _terms(plan: Plan, meter: Meter) -> str:
    included, price = plan_usage(plan, meter)
    info = METERS[meter]
    head = f"{included} included" if included else "none included"
    tail = f"then {price.normalize():f} {plan.currency.upper()} per {info.unit}" if price \
        else "then free"
    return f"{head}, {tail}"


def _plan_rows(plans: list[Plan]) -> list[dict[str, Any]]:
    return [{"plan": plan,
             "seat": f"{Decimal(plan.seat_price_cents) / 100:.2f} {plan.currency.upper()}",
             "usage": [(METERS[m].label, _terms(plan, m)) for m in Meter]} for plan in plans]


def _blank_values() -> dict[str, str]:
    values = {"code": "", "name": "", "description": "", "currency": "eur",
              "seat_price": "", "trial_days": "14"}
    for meter in Meter:
        values[f"{meter.value}_included"] = "0"
        values[f"{meter.value}_price"] = "0"
    return values


async def _plans_page(request: Request, op: Any, session: Any, *,
                      values: dict[str, str] | None = None, error: str | None = None,
                      notice: str | None = None, status_code: int = 200) -> HTMLResponse:
    plans = list((await session.scalars(select(Plan).order_by(
        col(Plan.seat_price_cents)))).all())
    return render(request, "billing/operator_plans.html", op.template_context(
        rows=_plan_rows(plans), values=values or _blank_values(), currencies=CURRENCIES,
        meters=list(METERS.items()), error=error, notice=notice, section="plans"),
        status_code=status_code)


@router.get("/operator/plans")
async def plans_page(request: Request, op: OperatorPage, session: DbSession,
                     done: str | None = None) -> HTMLResponse:
    notice = {"created": "The plan has been created.", "saved": "The plan has been saved."}
    return await _plans_page(request, op, session, notice=notice.get(done or ""))


def _new_plan(values: dict[str, str]) -> Plan:
    code = values["code"].strip().lower()
    if not CODE_RE.match(code):
        raise UnprocessableContent("The code is 1 to 40 lowercase letters, digits or dashes.")
    if not values["name"].strip():
        raise UnprocessableContent("Enter the plan's name.")
    if values["currency"] not in CURRENCIES:
        raise UnprocessableContent("Choose one of the currencies offered.")
    seat = parse_price(values["seat_price"])
    if seat != seat.quantize(Decimal("0.01")):
        raise UnprocessableContent("The seat price has at most 2 decimals.")
    try:
        trial = int(values["trial_days"] or "0")
        usage: dict[str, dict[str, Any]] = {}
        for meter in Meter:
            included = int(values.get(f"{meter.value}_included") or "0")
            price = parse_price(values.get(f"{meter.value}_price") or "0")
            if not 0 <= included <= 100_000_000:
                raise UnprocessableContent("Included usage is between 0 and 100,000,000.")
            usage[meter.value] = {"included": included, "unit_price": f"{price:f}"}
    except ValueError as error:
        raise UnprocessableContent("Included usage and trial days are whole numbers.") \
            from error
    if not 0 <= trial <= 730:
        raise UnprocessableContent("A trial lasts 0 to 730 days.")
    return Plan(code=code, name=values["name"].strip()[:120],
                description=values["description"].strip()[:1000],
                seat_price_cents=int(seat * 100), currency=values["currency"],
                trial_days=trial, usage=usage, stripe_ids={})


@router.post("/operator/plans")
async def create_plan(request: Request, op: OperatorPage, session: DbSession) -> Response:
    fields = await form_fields(request)
    values = {**_blank_values(), **{k: v.strip() for k, v in fields.items()
                                    if k in _blank_values()}}
    try:
        plan = _new_plan(values)
        if await session.get(Plan, plan.code) is not None:
            raise Conflict(f"A plan with the code '{plan.code}' already exists.")
    except ProblemError as problem:
        return await _plans_page(request, op, session, values=values, error=problem.detail,
                                 status_code=problem.status)
    session.add(plan)
    await session.flush()
    return redirect("/operator/plans?done=created")


@router.post("/operator/plans/{code}")
async def save_plan(code: str, request: Request, op: OperatorPage,
                    session: DbSession) -> Response:
    fields = await form_fields(request)
    plan = await session.get(Plan, code) if CODE_RE.match(code) else None
    if plan is None:
        raise NotFound("There is no plan with this code.")
    name = fields.get("name", "").strip()
    if not name:
        return await _plans_page(request, op, session, error="Enter the plan's name.",
                                 status_code=422)
    plan.name = name[:120]
    plan.description = fields.get("description", "").strip()[:1000]
    plan.is_active = "is_active" in fields
    session.add(plan)
    await session.flush()
    return redirect("/operator/plans?done=saved")


# --- operator: billing overview and a tenant's billing ---------------------------------------


@router.get("/operator/billing")
async def billing_overview(request: Request, op: OperatorPage, session: DbSession,
                           services: ServicesDep) -> HTMLResponse:
    settings = services.settings
    objects = [(row.key, row.stripe_id) for row in (await session.scalars(
        select(StripeObject).order_by(col(StripeObject.key)))).all()]
    events = list((await session.scalars(select(StripeEvent).order_by(
        col(StripeEvent.received_at).desc()).limit(50))).all())
    return render(request, "billing/operator_overview.html", op.template_context(
        configured=settings.billing_enabled, webhook=bool(settings.stripe_webhook_secret),
        webhook_url=f"{settings.base_url}{WEBHOOK_PATH}", grace_days=settings.billing_grace_days,
        objects=objects, events=events, section="billing"))


@router.get("/operator/tenants/{slug}/billing")
async def tenant_billing(slug: str, request: Request, op: OperatorPage, session: DbSession,
                         services: ServicesDep, done: str | None = None) -> HTMLResponse:
    tenant = await _tenant_or_404(session, slug)
    await bind_tenant(session, tenant.id)
    summary = await summarize(session, services.settings, tenant)
    reports = await ledger.reports_of(session, tenant.id)
    return render(request, "billing/operator_tenant.html", op.template_context(
        tenant=tenant, reports=reports, labels={m.value: METERS[m].label for m in Meter},
        configured=services.settings.billing_enabled,
        notice="Synchronised with Stripe." if done == "synced" else None,
        tab="billing", section="tenants", **_summary_context(summary)))


@router.post("/operator/tenants/{slug}/billing/sync")
async def tenant_billing_sync(slug: str, op: OperatorPage, session: DbSession,
                              services: ServicesDep) -> Response:
    tenant = await _tenant_or_404(session, slug)
    if not services.settings.billing_enabled:
        raise NotFound("Billing is not configured on this platform.")
    await run_tenant(services, gateway_for(services.settings), tenant.id)
    return redirect(f"/operator/tenants/{tenant.slug}/billing?done=synced")
