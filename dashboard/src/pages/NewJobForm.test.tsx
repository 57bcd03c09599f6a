import { fireEvent, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { realDoc, makeServices, OPERATOR, renderWith } from "../test/fakes";
import { NewJobForm } from "./NewJobForm";

/** The API's document without the `layers` field of the upload form, as older servers had. */
function docWithoutLayers() {
  const doc = structuredClone(realDoc) as typeof realDoc;
  const post = doc.paths["/api/jobs"].post!;
  for (const media of Object.values(post.requestBody!.content!)) delete media.schema!.properties!.layers;
  return doc;
}

describe("NewJobForm", () => {
  it("takes a dropped file and offers the server's profiles", () => {
    renderWith(<NewJobForm onAccepted={() => undefined} />, { services: makeServices(), me: OPERATOR });
    const submit = screen.getByRole("button", { name: "Compress" }) as HTMLButtonElement;
    expect(submit.disabled).toBe(true);
    const file = new File(["hello world"], "hello.log", { type: "text/plain" });
    fireEvent.drop(screen.getByTestId("dropzone"), { dataTransfer: { files: [file] } });
    expect(screen.getByTestId("chosen-file").textContent).toContain("hello.log");
    expect(submit.disabled).toBe(false);
    const options = [...(screen.getByLabelText("Profile") as HTMLSelectElement).options].map((o) => o.value);
    expect(options).toEqual(["fast", "balanced", "max"]);
  });

  it("disables the layers field when the server does not take it", () => {
    renderWith(<NewJobForm onAccepted={() => undefined} />, { services: makeServices({ doc: docWithoutLayers() }), me: OPERATOR });
    expect((screen.getByLabelText("Layers") as HTMLInputElement).disabled).toBe(true);
    expect(screen.getByText("This server does not accept a layer choice yet.")).toBeTruthy();
  });

  it("checks the layers before uploading when the server takes them", async () => {
    renderWith(<NewJobForm onAccepted={() => undefined} />, { services: makeServices(), me: OPERATOR });
    const file = new File(["x"], "x.log");
    fireEvent.drop(screen.getByTestId("dropzone"), { dataTransfer: { files: [file] } });
    const layers = screen.getByLabelText("Layers") as HTMLInputElement;
    await userEvent.setup().type(layers, "2-9");
    expect(layers.getAttribute("aria-invalid")).toBe("true");
    expect(screen.getByText(/"2-9" is not a layer/)).toBeTruthy();
    expect((screen.getByRole("button", { name: "Compress" }) as HTMLButtonElement).disabled).toBe(true);
  });
});
