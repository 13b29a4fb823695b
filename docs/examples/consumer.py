"""A downstream service told of each Face3D outcome by its result event (README, "Result events").

Deployed as a Lambda function that an EventBridge rule with the pattern in result-rule.json
targets. It reads the result exactly as the event names it, by version id: a newer set of the
subject being written meanwhile cannot mix in. Its role needs s3:GetObjectVersion on the results.
"""

import hashlib
import json
from typing import Any

import boto3

s3 = boto3.client("s3")


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    detail = event["detail"]
    if event["detail-type"] == "Face3D Set Failed":
        error = detail["error"]
        print(f"{detail['subject']}: {error['code']} (retryable: {error['retryable']})")
        return {"subject": detail["subject"], "failed": error["code"]}

    def read(record: dict[str, Any]) -> bytes:
        answer = s3.get_object(
            Bucket=detail["bucket"], Key=record["key"], VersionId=record["version_id"]
        )
        data: bytes = answer["Body"].read()
        return data

    result = json.loads(read(detail["result"]))
    model = detail["outputs"]["face.obj"]
    obj = read(model)
    if hashlib.sha256(obj).hexdigest() != model["sha256"]:
        raise ValueError(f"{model['key']} is not the version the event names")
    print(f"{detail['subject']}: face.obj {len(obj)} bytes from views {result['views']}")
    return {"subject": detail["subject"], "views": result["views"], "obj_bytes": len(obj)}
