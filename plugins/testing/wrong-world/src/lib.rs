//! Test fixture: implements a different world (`demo:bot`), so wasmbot must refuse it.

wit_bindgen::generate!({ world: "bot", path: "wit" });

struct Other;

impl Guest for Other {
    fn handle(input: String) -> Vec<String> {
        log(&input);
        vec![input]
    }
}

export!(Other);
