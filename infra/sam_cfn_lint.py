"""Expands template.yaml with aws-sam-translator (offline) and runs cfn-lint on the result.

cfn-lint on the raw SAM template does not look inside SAM resources the way CloudFormation
will see them (wrong !Ref/!GetAtt in functions, policies, events); the expanded template is
what CloudFormation deploys, so that is what gets linted.

Usage: python infra/sam_cfn_lint.py TEMPLATE OUTPUT_JSON
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from samtranslator.public.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class OfflinePolicyLoader:
    """The template names no bare managed policies, so no IAM lookup is needed."""

    def load(self):
        return {}


def main() -> int:
    # The translator asks boto for the region of its pseudo parameters; no call leaves the machine.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template_path, output_path = Path(sys.argv[1]), Path(sys.argv[2])
    sam = yaml_parse(template_path.read_text())
    # What `sam package` does before CloudFormation sees the template: local code becomes S3.
    sam.get("Globals", {}).get("Function", {}).pop("CodeUri", None)
    for name, res in sam.get("Resources", {}).items():
        if res.get("Type") == "AWS::Serverless::Function":
            res.setdefault("Properties", {})["CodeUri"] = f"s3://packaged-code/{name}.zip"
    params = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    try:
        cfn = transform(sam, params, OfflinePolicyLoader())
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"{template_path}: SAM transform: {cause.message}", file=sys.stderr)
        return 1
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(cfn, indent=2, default=str))
    n = len(cfn.get("Resources", {}))
    print(f"expanded {template_path} to {n} CloudFormation resources in {output_path}")
    lint = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--regions", "us-east-1",
            "--non-zero-exit-code", "warning",
            "--",
            str(output_path),
        ]
    )
    if lint.returncode == 0:
        print("cfn-lint: the expanded template is clean")
    return lint.returncode


if __name__ == "__main__":
    sys.exit(main())
