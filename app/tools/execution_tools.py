"""The execution tools, as the registry takes them: invoke_rpc, invoke_function, submit_job, get_job_status."""
from __future__ import annotations

from app.tools.function_tool import INVOKE_FUNCTION
from app.tools.job_tools import GET_JOB_STATUS, SUBMIT_JOB
from app.tools.rpc_tool import INVOKE_RPC

__all__ = ["EXECUTION_TOOLS"]

EXECUTION_TOOLS = (INVOKE_RPC, INVOKE_FUNCTION, SUBMIT_JOB, GET_JOB_STATUS)
