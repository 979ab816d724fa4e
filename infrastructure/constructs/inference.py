"""The inference container image and the role SageMaker runs it with.

Endpoints are not created here: the API creates them (with this role and image) on request.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, IgnoreMode, Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from api_schema import s3_layout
from api_schema.s3_layout import ASYNC, COMPILED, INPUTS, MODELS, OUTPUTS
from infrastructure.constructs.messaging import Messaging
from infrastructure.lambda_code import REPO_ROOT

DOCKERFILE = "inference_image/Dockerfile"


def image_excludes() -> list[str]:
    """What stays out of the image's build context: the git-ignored files (venvs, node_modules,
    cdk.out, test outputs, caches) and git's own folder."""
    lines = (REPO_ROOT / ".gitignore").read_text().splitlines()
    return [".git", *(line.strip() for line in lines if line.strip() and not line.startswith("#"))]


class Inference(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, bucket: s3.IBucket, messaging: Messaging, prefix: str
    ) -> None:
        super().__init__(scope, construct_id)
        # Staged (copied) at synth, built and pushed by `cdk deploy`: synth needs no Docker engine.
        self.image = ecr_assets.DockerImageAsset(
            self,
            "Image",
            directory=str(REPO_ROOT),
            file=DOCKERFILE,
            platform=ecr_assets.Platform.LINUX_AMD64,
            exclude=image_excludes(),
            ignore_mode=IgnoreMode.GIT,
        )
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "SageMakerRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="sd-cloud inference endpoints: read models and inputs, write results, share kernels, notify",
            inline_policies={
                "Inference": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=["s3:GetObject"],
                            resources=[
                                bucket.arn_for_objects(f"{MODELS}*"),
                                bucket.arn_for_objects(f"{INPUTS}*"),
                                bucket.arn_for_objects(f"{COMPILED}*"),
                            ],
                        ),
                        iam.PolicyStatement(
                            actions=["s3:PutObject"],
                            resources=[
                                bucket.arn_for_objects(f"{OUTPUTS}*"),
                                bucket.arn_for_objects(f"{ASYNC}*"),
                                bucket.arn_for_objects(f"{COMPILED}*"),
                            ],
                        ),
                        # compiled artifacts: an instance lists what others of its kind built; and it looks for
                        # a job's cancel marker by listing its key
                        iam.PolicyStatement(
                            actions=["s3:ListBucket"],
                            resources=[bucket.bucket_arn],
                            conditions={"StringLike": {"s3:prefix": [f"{COMPILED}*", s3_layout.cancel_key("*")]}},
                        ),
                        iam.PolicyStatement(
                            actions=["sns:Publish"],
                            resources=[messaging.success_topic.topic_arn, messaging.error_topic.topic_arn],
                        ),
                        iam.PolicyStatement(
                            actions=["kms:GenerateDataKey", "kms:Decrypt"],
                            resources=[messaging.topics_key.key_arn],
                            conditions={"StringEquals": {"kms:ViaService": f"sns.{stack.region}.amazonaws.com"}},
                        ),
                        # Container logs, as SageMaker writes them for the endpoints this stack names.
                        iam.PolicyStatement(
                            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                            resources=[
                                stack.format_arn(
                                    service="logs",
                                    resource="log-group",
                                    resource_name=f"/aws/sagemaker/Endpoints/{prefix}-*",
                                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                                )
                            ],
                        ),
                    ]
                )
            },
        )
        self.image.repository.grant_pull(self.role)
