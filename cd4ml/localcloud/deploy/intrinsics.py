"""CloudFormation intrinsic functions and conditions, resolved against a stack being deployed."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from ..errors import TemplateError

NO_VALUE = object()  # AWS::NoValue: the property is removed
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")

RefFn = Callable[[str], Any]
GetAttFn = Callable[[str, str], Any]


class Resolver:
    """Evaluates Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::If and friends over a template fragment."""

    def __init__(
        self,
        ref: RefFn,
        get_att: GetAttFn,
        conditions: dict[str, Any],
        mappings: dict[str, Any],
        region: str,
    ) -> None:
        self._ref = ref
        self._get_att = get_att
        self._condition_defs = conditions
        self._condition_values: dict[str, bool] = {}
        self._mappings = mappings
        self._region = region

    # ---- conditions -----------------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._condition_values:
            if name not in self._condition_defs:
                raise TemplateError(f"condition {name!r} is not defined in Conditions")
            self._condition_values[name] = bool(self._evaluate_condition(self._condition_defs[name]))
        return self._condition_values[name]

    def _evaluate_condition(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in arg)
                return str(left) == str(right)
            if key == "Fn::And":
                return all(self._evaluate_condition(v) for v in arg)
            if key == "Fn::Or":
                return any(self._evaluate_condition(v) for v in arg)
            if key == "Fn::Not":
                return not self._evaluate_condition(arg[0])
            if key == "Condition":
                return self.condition(arg)
        return self.resolve(node)

    # ---- values ---------------------------------------------------------------------------------------
    def resolve(self, node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1:
                ((key, arg),) = node.items()
                handler = _FUNCTIONS.get(key)
                if handler is not None:
                    return handler(self, arg)
            resolved = {k: self.resolve(v) for k, v in node.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not NO_VALUE]
        return node

    def _fn_ref(self, name: Any) -> Any:
        return self._ref(self.resolve(name))

    def _fn_get_att(self, arg: Any) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        logical_id, attribute = (self.resolve(v) for v in arg)
        return self._get_att(logical_id, attribute)

    def _fn_sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}
        if not isinstance(text, str):
            raise TemplateError(f"Fn::Sub needs a string, got {text!r}")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in variables:
                return str(variables[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return str(self._get_att(logical_id, attribute))
            return str(self._ref(name))

        return _SUB_VARIABLE.sub(replace, text).replace("${!", "${")

    def _fn_join(self, arg: Any) -> str:
        delimiter, items = arg[0], self.resolve(arg[1])
        if not isinstance(items, list):
            raise TemplateError(f"Fn::Join needs a list, got {items!r}")
        return str(delimiter).join(str(v) for v in items)

    def _fn_select(self, arg: Any) -> Any:
        index, items = int(self.resolve(arg[0])), self.resolve(arg[1])
        try:
            return items[index]
        except (IndexError, TypeError) as exc:
            raise TemplateError(f"Fn::Select index {index} out of range for {items!r}") from exc

    def _fn_split(self, arg: Any) -> list[str]:
        return str(self.resolve(arg[1])).split(arg[0])

    def _fn_if(self, arg: Any) -> Any:
        name, if_true, if_false = arg
        return self.resolve(if_true if self.condition(name) else if_false)

    def _fn_find_in_map(self, arg: Any) -> Any:
        map_name, top, second = (self.resolve(v) for v in arg[:3])
        try:
            return self._mappings[map_name][top][second]
        except KeyError as exc:
            if len(arg) > 3 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                return self.resolve(arg[3]["DefaultValue"])
            raise TemplateError(f"Fn::FindInMap: no {map_name}/{top}/{second} in Mappings") from exc

    def _fn_base64(self, arg: Any) -> str:
        return base64.b64encode(str(self.resolve(arg)).encode()).decode()

    def _fn_get_azs(self, arg: Any) -> list[str]:
        return [f"{self._region}{suffix}" for suffix in "abc"]

    def _fn_to_json_string(self, arg: Any) -> str:
        import json

        return json.dumps(self.resolve(arg), separators=(",", ":"))

    def _fn_import_value(self, arg: Any) -> Any:
        raise TemplateError(f"Fn::ImportValue {arg!r}: cross-stack imports are not available in the local cloud")

    def _fn_condition(self, arg: Any) -> bool:
        return self.condition(arg)

    def _fn_length(self, arg: Any) -> int:
        return len(self.resolve(arg))


_FUNCTIONS: dict[str, Callable[[Resolver, Any], Any]] = {
    "Ref": Resolver._fn_ref,
    "Fn::GetAtt": Resolver._fn_get_att,
    "Fn::Sub": Resolver._fn_sub,
    "Fn::Join": Resolver._fn_join,
    "Fn::Select": Resolver._fn_select,
    "Fn::Split": Resolver._fn_split,
    "Fn::If": Resolver._fn_if,
    "Fn::FindInMap": Resolver._fn_find_in_map,
    "Fn::Base64": Resolver._fn_base64,
    "Fn::GetAZs": Resolver._fn_get_azs,
    "Fn::ToJsonString": Resolver._fn_to_json_string,
    "Fn::ImportValue": Resolver._fn_import_value,
    "Fn::Length": Resolver._fn_length,
    "Condition": Resolver._fn_condition,
}


def references(node: Any) -> set[str]:
    """Logical ids (or parameters) a fragment refers to, for ordering the deployment."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value.split(".", 1)[0] if isinstance(value, str) else value[0]
                if isinstance(target, str):
                    found.add(target)
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                local = set(value[1]) if isinstance(value, list) and isinstance(value[1], dict) else set()
                if isinstance(text, str):
                    found |= {m.split(".", 1)[0].strip() for m in _SUB_VARIABLE.findall(text)} - local
                found |= references(value[1] if isinstance(value, list) else None)
            else:
                found |= references(value)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    return found
