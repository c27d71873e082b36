"""Writes the compact CloudWatch service model fluoro embeds (proto/models/cloudwatch.json).

Run with any Python that has botocore: python3 proto/models/strip_model.py
Keeps what the codecs and validators need (operations, shapes, members, constraints, error
codes) and drops documentation. Source: botocore's cloudwatch 2010-08-01 service-2 model.
"""
import gzip, json, os, botocore

src = os.path.join(os.path.dirname(botocore.__file__), "data", "cloudwatch", "2010-08-01", "service-2.json.gz")
model = json.load(gzip.open(src))
keep_shape = ("type", "required", "min", "max", "enum", "pattern", "member", "key", "value", "error",
              "exception", "timestampFormat")
out = {"botocore": botocore.__version__, "metadata": {k: model["metadata"][k] for k in
       ("apiVersion", "targetPrefix", "xmlNamespace", "jsonVersion")}, "operations": {}, "shapes": {}}
for name, op in sorted(model["operations"].items()):
    entry = {}
    if "input" in op:
        entry["input"] = op["input"]["shape"]
    if "output" in op:
        entry["output"] = op["output"]["shape"]
        if "resultWrapper" in op["output"]:
            entry["resultWrapper"] = op["output"]["resultWrapper"]
    entry["errors"] = [e["shape"] for e in op.get("errors", [])]
    out["operations"][name] = entry
for name, shape in sorted(model["shapes"].items()):
    s = {k: v for k, v in shape.items() if k in keep_shape}
    for k in ("member", "key", "value"):
        if k in s:
            s[k] = s[k]["shape"]
    if "members" in shape:
        # A list keeps the model's member order: responses are written in that order.
        s["members"] = [[m, v["shape"]] for m, v in shape["members"].items()]
    out["shapes"][name] = s
dst = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cloudwatch.json")
with open(dst, "w") as f:
    json.dump(out, f, separators=(",", ":"), sort_keys=True)
    f.write("\n")
print(dst, os.path.getsize(dst))
