"""Wait for an OAC work request started elsewhere (another task, the CLI, a script)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseSensorOperator, conf

from airflow_provider_oac.links import OACInstanceLink
from airflow_provider_oac.operators._base import OACTaskMixin

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class OACWorkRequestSensor(OACTaskMixin, BaseSensorOperator):
    """Succeeds when the work request SUCCEEDED; fails with OAC's own error text when it FAILED
    or was CANCELED.

    :param work_request_id: the work request (templated), e.g.
        ``"{{ ti.xcom_pull(task_ids='backup', key='work_request_id') }}"``.
    :param oac_conn_id: the ``oac`` connection.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``);
        otherwise ``mode="poke"`` or ``mode="reschedule"`` as for any sensor.
    """

    template_fields: Sequence[str] = ("work_request_id",)
    ui_color = "#c74634"
    operator_extra_links = (OACInstanceLink(),)

    def __init__(
        self,
        *,
        work_request_id: str,
        oac_conn_id: str = "oac_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.work_request_id = work_request_id
        self.oac_conn_id = oac_conn_id
        self.deferrable = deferrable

    def execute(self, context: Context) -> Any:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.validation import validate_resource_id

        try:
            self.work_request_id = validate_resource_id(self.work_request_id, "work_request_id")
        except ValueError as exc:
            # lazy: DAG-parse cost, see bench/parse_cost.py
            from airflow_provider_oac.hooks._airflow import fail_exception

            raise fail_exception()(str(exc)) from None
        self.warn_if_login_expiring()
        if not self.deferrable:
            with self.waiting_in_worker(work_request_id=self.work_request_id):
                return super().execute(context)
        if self.poke(context):
            return None
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.triggers.work_request import OACWorkRequestTrigger

        self.defer_to_trigger(
            context,
            OACWorkRequestTrigger(
                work_request_id=self.work_request_id,
                oac_conn_id=self.oac_conn_id,
                poll_interval=float(self.poke_interval),
                timeout=float(self.timeout) if self.timeout else None,
            ),
            timeout=timedelta(seconds=float(self.timeout)) if self.timeout else None,
        )

    def poke(self, context: Context) -> bool:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.hooks._airflow import airflow_exception
        from airflow_provider_oac.triggers.events import WaitEvent

        with self.oac_errors():
            work_request = self.hook.get_work_request(self.work_request_id)
        self.log.info("Work request %s: %s", work_request.id, work_request.status.value)
        if not work_request.status.is_terminal:
            return False
        event = WaitEvent.for_work_request(work_request)
        if not event.succeeded:
            raise airflow_exception()(event.reason)
        return True

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        # lazy: DAG-parse cost, see bench/parse_cost.py
        from airflow_provider_oac.triggers.events import WaitEvent

        done = WaitEvent.from_dict(event)
        if not done.succeeded:
            raise self.wait_failure(done)
        self.log.info("Work request %s succeeded.", done.work_request_id)
